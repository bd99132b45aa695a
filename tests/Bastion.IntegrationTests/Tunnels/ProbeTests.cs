using System.Globalization;
using Bastion.IntegrationTests.Infrastructure;
using Bastion.Status;
using Xunit.Abstractions;
using static Bastion.IntegrationTests.Tunnels.TunnelYaml;

namespace Bastion.IntegrationTests.Tunnels;

/// <summary>
/// The liveness probe is a <c>keepalive@openssh.com</c> global request: sshd answers it without a log line, and the
/// -R forwards' global requests on the same session never take a probe's reply for theirs (or the reverse).
/// </summary>
public sealed class ProbeTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Many_answered_probes_leave_not_a_single_line_in_sshds_log()
    {
        await using var sshd = await Sshd.StartAsync(Path.GetTempPath(), output); // LogLevel VERBOSE: stricter than the default INFO
        await using var echo = new EchoServer();
        var key = await sshd.CreateUserKeyAsync();
        await using var daemon = new BastiondProcess(output, TunnelsYaml(
            Item("quiet", "local", sshd, key, "127.0.0.1:0", $"127.0.0.1:{echo.Port}", probe: "interval: 200ms\n      timeout: 150ms\n      failures: 50")));
        await daemon.StartAndWaitReadyAsync();
        await daemon.WaitForStatusAsync(s => Answered(s) >= 1, "a first probe answered");
        var before = sshd.LogLines.Count;

        const int Probes = 40;
        var status = await daemon.WaitForStatusAsync(s => Answered(s) >= Probes + 1, $"{Probes} more probes answered", TimeSpan.FromSeconds(60));

        var tunnel = status.Components.Single();
        Assert.Equal("Running", tunnel.State);
        Assert.Equal("1", tunnel.Details["connects"]);
        var during = sshd.LogLines.Skip(before).ToList();
        Assert.True(during.Count == 0, $"sshd logged during {Probes} probes:\n{string.Join('\n', during)}");
        Assert.DoesNotContain(sshd.LogLines, l => l.Contains("connect_to", StringComparison.Ordinal) || l.Contains("error", StringComparison.OrdinalIgnoreCase));
    }

    [Fact]
    public async Task Remote_forwards_started_and_stopped_while_probes_run_every_100ms_on_the_same_session_are_never_refused()
    {
        await using var sshd = await Sshd.StartAsync(Path.GetTempPath(), output);
        await using var echo = new EchoServer();
        var key = await sshd.CreateUserKeyAsync();
        // The strictest probe of a session's tunnels is the session's: this one makes it probe every 100 ms.
        var anchor = Item("anchor", "local", sshd, key, "127.0.0.1:0", $"127.0.0.1:{echo.Port}", probe: "interval: 100ms\n      timeout: 90ms\n      failures: 100");
        string Remote(string name, int port) => Item(name, "remote", sshd, key, $"127.0.0.1:{port}", $"127.0.0.1:{echo.Port}");
        await using var daemon = new BastiondProcess(output, TunnelsYaml(anchor));
        await daemon.StartAndWaitReadyAsync();
        await daemon.WaitForStatusAsync(s => Answered(s) >= 3, "probing");

        const int Rounds = 12;
        for (var round = 1; round <= Rounds; round++)
        {
            // Each round removes the last round's two forwards (cancel-tcpip-forward) and asks for two new ones
            // (tcpip-forward), with probes in flight all the time.
            var (a, b) = (FreePort.Pick(), FreePort.Pick());
            daemon.WriteConfig(TunnelsYaml(anchor, Remote($"ra{round}", a), Remote($"rb{round}", b)));
            daemon.Signal(Posix.SIGHUP);
            var status = await daemon.WaitForStatusAsync(
                s => s.Components.Select(c => c.Name).Order().SequenceEqual(["anchor", $"ra{round}", $"rb{round}"])
                    && s.Components.All(c => c.State == "Running"
                    || c.Reason.Contains("rejected", StringComparison.Ordinal) || c.Reason.Contains("busy", StringComparison.Ordinal)),
                $"round {round}: both forwards running (or refused)");
            foreach (var c in status.Components)
            {
                Assert.True(c.State == "Running", $"round {round}: {c.Name}: {c.State}: {c.Reason}");
            }
            foreach (var port in new[] { a, b })
            {
                await using var client = await EchoClient.ConnectAsync(port); // through the server's bound port
                await client.RoundTripAsync();
            }
        }
        var end = daemon.ReadStatus().Components.Single(c => c.Name == "anchor");
        Assert.Equal("1", end.Details["connects"]); // one session all along: no probe was taken for lost
        Assert.Equal("0", end.Details["reconnects"]);
        Assert.DoesNotContain(sshd.LogLines, l => l.Contains("error", StringComparison.OrdinalIgnoreCase));
    }

    [Fact]
    public async Task The_probe_listens_on_no_port_so_no_local_user_can_make_the_server_open_a_channel_through_it()
    {
        await using var sshd = await Sshd.StartAsync(Path.GetTempPath(), output);
        await using var echo = new EchoServer();
        var key = await sshd.CreateUserKeyAsync();
        await using var daemon = new BastiondProcess(output, TunnelsYaml(
            Item("only", "local", sshd, key, "127.0.0.1:0", $"127.0.0.1:{echo.Port}", probe: "interval: 200ms\n      timeout: 150ms\n      failures: 50")));
        await daemon.StartAndWaitReadyAsync();
        var status = await daemon.WaitForStatusAsync(s => Answered(s) >= 3, "probes answered");

        // The bind alone: the probe has no port, and -L has no inner port (a channel per connection).
        var bind = int.Parse(status.Components.Single().Details["boundPort"], CultureInfo.InvariantCulture);
        var others = RelayAbuseTests.ListeningPorts(daemon.Pid).Where(p => p != bind).ToList();
        Assert.True(others.Count == 0, "bastiond listens on more than the bind: " + string.Join(", ", others));
    }

    private static long Answered(StatusSnapshot s) =>
        s.Components.Select(c => c.Details.GetValueOrDefault("probesAnswered"))
            .Select(v => v is null ? 0 : long.Parse(v, CultureInfo.InvariantCulture)).DefaultIfEmpty(0).Max();
}
