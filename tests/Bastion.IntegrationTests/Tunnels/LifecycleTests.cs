using System.Globalization;
using Bastion.IntegrationTests.Infrastructure;
using Xunit.Abstractions;
using static Bastion.IntegrationTests.Tunnels.TunnelYaml;

namespace Bastion.IntegrationTests.Tunnels;

/// <summary>Reloads and many reconnects: untouched tunnels keep their connections; nothing leaks.</summary>
public sealed class LifecycleTests(ITestOutputHelper output)
{
    [Fact]
    public async Task A_reload_that_adds_one_tunnel_and_removes_another_leaves_an_open_connection_through_a_third_intact()
    {
        await using var sshd = await Sshd.StartAsync(Path.GetTempPath(), output);
        await using var echo = new EchoServer();
        var key = await sshd.CreateUserKeyAsync();
        string Tunnel(string name) => Item(name, "local", sshd, key, "127.0.0.1:0", $"127.0.0.1:{echo.Port}");
        await using var daemon = new BastiondProcess(output, TunnelsYaml(Tunnel("keep"), Tunnel("old")));
        await daemon.StartAndWaitReadyAsync();
        var keep = await daemon.WaitForComponentAsync("keep", "Running");
        await daemon.WaitForComponentAsync("old", "Running");
        await using var open = await EchoClient.ConnectAsync(int.Parse(keep.Details["boundPort"], CultureInfo.InvariantCulture));
        await open.RoundTripAsync();

        daemon.WriteConfig(TunnelsYaml(Tunnel("keep"), Tunnel("new")));
        daemon.Signal(Posix.SIGHUP);
        await daemon.Log.WaitForLineAsync(l => l.Contains("reload applied: 1 added, 1 removed, 0 changed, 1 unchanged", StringComparison.Ordinal), BastiondProcess.Patience, "reload applied");
        await daemon.WaitForComponentAsync("new", "Running");
        var after = await daemon.WaitForStatusAsync(s => s.Components.All(c => c.Name != "old"), "old removed");

        await open.RoundTripAsync(); // the same TCP connection, through the same forward and session
        var kept = after.Components.Single(c => c.Name == "keep");
        Assert.Equal(1, kept.Starts);
        Assert.Equal("Running", kept.State);
        Assert.Equal(keep.Details["boundPort"], kept.Details["boundPort"]);
        Assert.Single(sshd.LogLines, l => l.Contains("Accepted publickey for", StringComparison.Ordinal)); // still one session
    }

    [Fact]
    public async Task A_reload_that_changes_only_the_limits_applies_them_live_and_the_open_connections_keep_carrying_data()
    {
        await using var sshd = await Sshd.StartAsync(Path.GetTempPath(), output);
        await using var echo = new EchoServer();
        var key = await sshd.CreateUserKeyAsync();
        string Tunnel(int limit) => Item("limited", "local", sshd, key, "127.0.0.1:0", $"127.0.0.1:{echo.Port}",
            extra: $"    limits:\n      connections: {limit}\n      perSource: {limit}\n");
        await using var daemon = new BastiondProcess(output, TunnelsYaml(Tunnel(4)));
        await daemon.StartAndWaitReadyAsync();
        var before = await daemon.WaitForComponentAsync("limited", "Running");
        var port = int.Parse(before.Details["boundPort"], CultureInfo.InvariantCulture);
        await using var first = await EchoClient.ConnectAsync(port);
        await using var second = await EchoClient.ConnectAsync(port);
        await first.RoundTripAsync();

        daemon.WriteConfig(TunnelsYaml(Tunnel(2)));
        daemon.Signal(Posix.SIGHUP);
        await daemon.Log.WaitForLineAsync(l => l.Contains("reload applied: 0 added, 0 removed, 0 changed, 1 updated live, 0 unchanged", StringComparison.Ordinal),
            BastiondProcess.Patience, "reload applied live");
        await daemon.Log.WaitForLineAsync(l => l.Contains("tunnel limited: limits now 2 connections, 2 per source", StringComparison.Ordinal),
            BastiondProcess.Patience, "limits taken");

        // The open connections carry data on, through the same relay, forward and session.
        await first.RoundTripAsync();
        await second.RoundTripAsync();
        // The new limit holds: a third connection of the same user is refused and counted.
        Assert.False(await IsServedAsync(port), "a third connection was served past the new limit of 2");
        var refused = await daemon.WaitForStatusAsync(s => s.Components.Single().Details.GetValueOrDefault("refusedSourceLimit") == "1",
            "the third connection counted as refused");
        var after = refused.Components.Single();
        Assert.Equal(before.Instance, after.Instance);
        Assert.Equal(1, after.Starts);
        Assert.Equal(before.Details["boundPort"], after.Details["boundPort"]);
        Assert.Equal("1", after.Details["connects"]);
        Assert.Equal("Running", after.State);

        // And raised again, live: a third connection is served.
        daemon.WriteConfig(TunnelsYaml(Tunnel(3)));
        daemon.Signal(Posix.SIGHUP);
        await daemon.Log.WaitForLineAsync(l => l.Contains("tunnel limited: limits now 3 connections", StringComparison.Ordinal), BastiondProcess.Patience, "raised");
        await using (var third = await EchoClient.ConnectAsync(port))
        {
            await third.RoundTripAsync();
        }
        await first.RoundTripAsync();
        Assert.Equal(before.Instance, daemon.ReadStatus().Components.Single().Instance);
        Assert.Single(sshd.LogLines, l => l.Contains("Accepted publickey for", StringComparison.Ordinal));
    }

    /// <summary>True when the port greets like the echo server; false when the connection is closed or reset unserved.</summary>
    private static async Task<bool> IsServedAsync(int port)
    {
        try
        {
            await using var client = await EchoClient.ConnectAsync(port);
            return true;
        }
        catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or EndOfStreamException)
        {
            return false;
        }
    }

    /// <summary>
    /// Each cycle kills the SSH session on the server side (sshd's per-connection process), waits for the tunnel to
    /// notice, reconnect and carry data again. The full 1000 cycles run in scripts/bench/tunnel-cycles.sh.
    /// </summary>
    [Fact]
    public async Task Repeated_session_kills_and_reconnects_leave_file_descriptors_and_memory_flat()
    {
        const int Cycles = 40;
        await using var sshd = await Sshd.StartAsync(Path.GetTempPath(), output);
        await using var echo = new EchoServer();
        var key = await sshd.CreateUserKeyAsync();
        await using var daemon = new BastiondProcess(output, TunnelsYaml(
            Item("cycled", "local", sshd, key, "127.0.0.1:0", $"127.0.0.1:{echo.Port}"),
            Item("cycled-r", "remote", sshd, key, $"127.0.0.1:{FreePort.Pick()}", $"127.0.0.1:{echo.Port}")));
        // A small gen0 budget makes the GC collect often, so RSS shows what is live rather than when the GC last ran.
        await daemon.StartAndWaitReadyAsync(new Dictionary<string, string> { ["DOTNET_GCgen0size"] = "0x400000" });
        (long Fds, long RssKb) baseline = default;
        for (var cycle = 1; cycle <= Cycles; cycle++)
        {
            var status = await daemon.WaitForStatusAsync(
                s => s.Components.All(c => c.State == "Running" && c.Details.GetValueOrDefault("connects") == cycle.ToString(CultureInfo.InvariantCulture)),
                $"cycle {cycle}: both tunnels running on session {cycle}");
            var port = int.Parse(status.Components.Single(c => c.Name == "cycled").Details["boundPort"], CultureInfo.InvariantCulture);
            await using (var client = await EchoClient.ConnectAsync(port))
            {
                await client.RoundTripAsync(16 * 1024);
            }
            if (cycle % 5 == 0)
            {
                var m = Measure(daemon.Pid);
                output.WriteLine($"cycle {cycle}: fds {m.Fds}, RSS {m.RssKb} kB");
                if (cycle == 10)
                {
                    baseline = m; // after the runtime has warmed up (JIT builds compile for a while)
                }
            }
            foreach (var pid in sshd.SessionPids())
            {
                Posix.Signal(pid, 9);
            }
        }
        await daemon.WaitForStatusAsync(s => s.Components.All(c => c.State == "Running"), "running at the end");
        var end = Measure(daemon.Pid);
        output.WriteLine($"after {Cycles} cycles: fds {baseline.Fds} → {end.Fds}, RSS {baseline.RssKb} → {end.RssKb} kB");
        Assert.True(end.Fds <= baseline.Fds + 4, $"file descriptors grew: {baseline.Fds} → {end.Fds}");
        // RSS is the coarse check (file descriptors are the exact one): in one full run of four on a loaded machine it grew
        // 16 MB over these 30 cycles (0.5 MB a cycle, levelling off at the end) where the others stayed under 12 MB. The
        // bound is 20 MB (a leak above about 0.7 MB a cycle still fails it); scripts/bench/tunnel-cycles.sh
        // (1,000 cycles) is the measure that tells a slow leak from the GC's timing.
        Assert.True(end.RssKb <= baseline.RssKb + 20 * 1024, $"RSS grew: {baseline.RssKb} → {end.RssKb} kB");
    }

    internal static (long Fds, long RssKb) Measure(int pid)
    {
        var fds = Directory.GetFiles($"/proc/{pid}/fd").Length;
        var rss = File.ReadAllLines($"/proc/{pid}/status").Single(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
        return (fds, long.Parse(rss.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture));
    }
}
