using Bastion.Config;
using static Bastion.Tests.Config.ConfigTestSupport;

namespace Bastion.Tests.Config;

/// <summary>Where tunnels may listen: one tunnel per port, loopback unless asked otherwise, and connection limits.</summary>
public sealed class ConfigTunnelBindTests
{
    private const string F = ConfigFile;

    private static string Second(string name, string kind, string bind, string? server = null) => $"""

          - name: {name}
            kind: {kind}
            server:
              host: {server ?? "jump.example.org"}
              user: bastion
              identity: /etc/bastion/id_ed25519
              hostKey:
                fingerprints: [SHA256:f+MBIWY78I2QFpPR3dFB27DxF/+3SHAxu+2DvHOv1M8]
            bind: {bind}
        {(kind == "dynamic" ? "" : "    target: 127.0.0.1:22\n")}
        """;

    [Fact]
    public void Two_tunnels_with_the_same_bind_are_refused_naming_both()
    {
        var error = SingleError(GoodTunnel + Second("other", "dynamic", "127.0.0.1:2222"));

        Assert.Equal($"{F}:20:11: tunnels[1].bind: tunnel 'other' binds 127.0.0.1:2222 on this machine, which tunnel 'admin' (line 10) already binds — give tunnel 'other' or tunnel 'admin' another port: one port carries one tunnel", error);
    }

    [Fact]
    public void A_wildcard_bind_clashes_with_a_loopback_bind_on_the_same_port()
    {
        var error = SingleError(GoodTunnel + Second("other", "local", "0.0.0.0:2222") + "    exposeBeyondLoopback: true\n");

        Assert.Contains("tunnel 'other' binds 0.0.0.0:2222 on this machine, which tunnel 'admin' (line 10) already binds", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Remote_binds_clash_only_on_the_same_server_and_never_with_local_ports()
    {
        var remote = GoodTunnel.Replace("kind: local", "kind: remote", StringComparison.Ordinal);
        LoadValid(remote + Second("elsewhere", "remote", "127.0.0.1:2222", server: "other.example.org"));
        LoadValid(remote + Second("here", "local", "127.0.0.1:2222"));

        var error = SingleError(remote + Second("same", "remote", "127.0.0.1:2222"));
        Assert.Contains("tunnel 'same' binds 127.0.0.1:2222 on server jump.example.org:22, which tunnel 'admin' (line 10) already binds", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Port_zero_binds_never_clash()
    {
        var zero = GoodTunnel.Replace("bind: 127.0.0.1:2222", "bind: 127.0.0.1:0", StringComparison.Ordinal);
        LoadValid(zero + Second("other", "local", "127.0.0.1:0"));
    }

    [Theory]
    [InlineData("local", "an unauthenticated way to the target for anyone who reaches it")]
    [InlineData("dynamic", "an unauthenticated SOCKS proxy into the server's network for anyone who reaches it")]
    public void A_bind_beyond_loopback_needs_an_explicit_opt_in(string kind, string what)
    {
        var yaml = GoodTunnel.Replace("kind: local", "kind: " + kind, StringComparison.Ordinal)
            .Replace("bind: 127.0.0.1:2222", "bind: 0.0.0.0:2222", StringComparison.Ordinal);
        if (kind == "dynamic")
        {
            yaml = yaml.Replace("    target: 127.0.0.1:22\n", "", StringComparison.Ordinal).TrimEnd('\n').Replace("\n    target: 127.0.0.1:22", "", StringComparison.Ordinal);
        }

        var error = SingleError(yaml);
        Assert.Equal($"{F}:10:11: tunnels[0].bind: '0.0.0.0:2222' listens beyond loopback: the tunnel would be {what} — bind to 127.0.0.1:2222 (or [::1]:2222), or add exposeBeyondLoopback: true to this tunnel if that is really meant", error);

        var config = LoadValid(yaml + "\n    exposeBeyondLoopback: true\n");
        Assert.True(config.Tunnels[0].ExposeBeyondLoopback);
    }

    [Fact]
    public void Loopback_binds_and_remote_binds_need_no_opt_in()
    {
        Assert.False(LoadValid(GoodTunnel.Replace("127.0.0.1:2222", "\"[::1]:2222\"", StringComparison.Ordinal)).Tunnels[0].ExposeBeyondLoopback);
        LoadValid(GoodTunnel.Replace("127.0.0.1:2222", "localhost:2222", StringComparison.Ordinal));
        LoadValid(GoodTunnel.Replace("kind: local", "kind: remote", StringComparison.Ordinal).Replace("127.0.0.1:2222", "0.0.0.0:2222", StringComparison.Ordinal));
    }

    [Fact]
    public void Connection_limits_have_defaults_and_can_be_set()
    {
        var defaults = LoadValid(GoodTunnel).Tunnels[0].Limits;
        Assert.Equal(256, defaults.Connections);
        Assert.Equal(32, defaults.PerSource);

        var set = LoadValid(GoodTunnel + "\n    limits:\n      connections: 10\n      perSource: 4\n").Tunnels[0].Limits;
        Assert.Equal(new TunnelLimitsConfig { Connections = 10, PerSource = 4 }, set);

        // A total below the default per-source share lowers that share with it.
        Assert.Equal(5, LoadValid(GoodTunnel + "\n    limits:\n      connections: 5\n").Tunnels[0].Limits.PerSource);
    }

    [Fact]
    public void A_per_source_limit_above_the_total_is_an_error()
    {
        var error = SingleError(GoodTunnel + "\n    limits:\n      connections: 10\n      perSource: 40\n");

        Assert.Equal($"{F}:14:18: tunnels[0].limits.perSource: 40 is more than limits.connections (10) — use at most 10, or raise connections", error);
    }
}
