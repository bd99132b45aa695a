using Bastion.IntegrationTests.Cli;
using Bastion.Status;

namespace Bastion.IntegrationTests.DBus;

/// <summary>
/// <c>bastionctl tunnels</c> shows the counters a tunnel reports as component details, whichever source the status came
/// from. Here the status file (no bus: the fallback), with this test process standing in as the running daemon.
/// </summary>
public sealed class TunnelDetailsTests : IDisposable
{
    private readonly TemporaryRuntimeDirectory _runtime = new();

    public void Dispose() => _runtime.Dispose();

    [Fact]
    public async Task Tunnels_lists_each_tunnels_counters_and_session_under_the_table_and_says_the_source()
    {
        var now = DateTimeOffset.UtcNow;
        var office = Snapshots.Component("tunnel", "office", "Running", "forwarding", now) with
        {
            Details = new Dictionary<string, string>
            {
                ["bytesOut"] = "1572864", ["bytesIn"] = "512", ["activeConnections"] = "2", ["connections"] = "17",
                ["connects"] = "3", ["reconnects"] = "2", ["boundPort"] = "2222", ["session"] = "SSH-2.0-OpenSSH_9.2p1", ["other"] = "x",
            },
        };
        var quiet = Snapshots.Component("tunnel", "quiet", "Backoff", "auth rejected", now) with { Details = new Dictionary<string, string>() };
        _runtime.Write(Snapshots.Daemon(Environment.ProcessId, [office, quiet, Snapshots.Component("check", "sshd", "Running", "up", now)]));

        var run = await Bastionctl.RunAsync(["tunnels", "--runtime-dir", _runtime.Path], null,
            new Dictionary<string, string> { ["DBUS_SYSTEM_BUS_ADDRESS"] = "unix:path=" + Path.Combine(_runtime.Path, "no-bus") });

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Contains("office: bound port 2222, session SSH-2.0-OpenSSH_9.2p1, active connections 2, connections 17, "
            + "bytes out 1572864 (1.5 MiB), bytes in 512, connects 3, reconnects 2\n", run.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("quiet:", run.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("sshd", run.Stdout, StringComparison.Ordinal);
        Assert.Matches(@"(?m)^source\s+status file .*status\.json \(not D-Bus: cannot connect to the system bus", run.Stdout);
    }
}
