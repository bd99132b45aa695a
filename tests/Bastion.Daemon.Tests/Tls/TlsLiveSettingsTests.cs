using Bastion.Config;
using Bastion.Daemon.Components;
using Bastion.Daemon.Tls;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace Bastion.Daemon.Tests.Tls;

/// <summary>
/// Which reloads of a TLS endpoint apply live: the dial interval, maxSessions, idleTimeout and vnc.stockViewers are the
/// spec's Policy (the running endpoint takes them, its connections stay); anything else is the process definition.
/// </summary>
public sealed class TlsLiveSettingsTests
{
    private static BastionConfig Config(string settings = "", string vnc = "  stockViewers: explain", string mode = "listen")
    {
        var yaml = $"""
            tls:
              - name: vnc
                mode: {mode}
                address: 127.0.0.1:5901
                certificate: /etc/bastion/tls/vnc.crt
                key: /etc/bastion/tls/vnc.key
                ca: /etc/bastion/tls/ca.crt
            {settings}
            vnc:
              mode: always
              endpoint: vnc
            {vnc}
            """;
        var result = ConfigLoader.LoadText(yaml, "/etc/bastion/bastion.yaml", new ConfigLoadOptions { CheckFiles = false });
        Assert.True(result.Ok, string.Join("\n", result.Errors));
        return result.Config!;
    }

    private static Bastion.Supervision.ComponentSpec Tls(BastionConfig config) =>
        ComponentPlan.Build(config, new DaemonRuntime(NullLoggerFactory.Instance, new FakeTimeProvider())).Single(s => s.Id.ToString() == "tls/vnc");

    [Fact]
    public void Stock_viewers_and_the_session_limits_are_the_endpoint_s_live_policy_not_its_process()
    {
        var listen = Tls(Config());
        var optedIn = Tls(Config(vnc: "  stockViewers: x509vnc"));
        Assert.True(listen.SameExceptPolicy(optedIn));
        Assert.NotEqual(listen, optedIn);
        Assert.True(((TlsLiveSettings)optedIn.Policy!).X509Vnc);

        var dial = Tls(Config(mode: "dial"));
        var limits = Tls(Config("    maxSessions: 2\n    idleTimeout: 5m\n    interval: 10s", mode: "dial"));
        Assert.True(dial.SameExceptPolicy(limits));
        Assert.NotEqual(dial, limits);
        Assert.Equal(new TlsLiveSettings(TimeSpan.FromSeconds(10), 2, TimeSpan.FromMinutes(5), X509Vnc: false), limits.Policy);
    }

    [Fact]
    public void A_changed_handshake_limit_still_rebuilds_the_endpoint()
    {
        Assert.False(Tls(Config()).SameExceptPolicy(Tls(Config("    maxFailedHandshakesPerMinute: 7"))));
    }
}
