using System.Diagnostics;
using Bastion.IntegrationTests.Infrastructure;
using Xunit.Abstractions;

namespace Bastion.IntegrationTests.Daemon;

/// <summary>The sd_notify protocol as systemd sees it, on a datagram socket of the test's own.</summary>
public sealed class SystemdNotifyTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Patience = BastiondProcess.Patience;

    [Fact]
    public async Task Ready_comes_with_a_status_line_after_the_components_are_started()
    {
        await using var sshd = await Sshd.StartAsync(Path.GetTempPath(), output);
        await using var daemon = new BastiondProcess(output, Checks.One("sshd", sshd.Port));
        daemon.Start();

        var ready = await daemon.Notify.WaitForAsync("READY=1", Patience);
        // Components are started (not necessarily up yet) by READY: the check is Starting or already Running.
        Assert.Matches(@"^checks (0/1 up — check/sshd: Starting \(starting\)|1/1 up)$", ready.Get("STATUS") ?? "");
        // The component set exists by READY (it may still be starting); then STATUS follows it up.
        await daemon.Notify.WaitForAsync(n => n.Get("STATUS") == "checks 1/1 up", Patience, "STATUS=checks 1/1 up");
        var status = daemon.ReadStatus();
        Assert.Equal("running", status.Daemon.State);
        Assert.Equal(daemon.Pid, status.Daemon.Pid);
    }

    [Fact]
    public async Task An_empty_config_is_a_daemon_with_nothing_to_supervise()
    {
        await using var daemon = new BastiondProcess(output, "");
        daemon.Start();
        var ready = await daemon.Notify.WaitForAsync("READY=1", Patience);
        Assert.Equal("nothing to supervise", ready.Get("STATUS"));
        Assert.Empty(daemon.ReadStatus().Components);
    }

    [Fact]
    public async Task Watchdog_pings_are_sent_while_the_supervision_loop_is_healthy()
    {
        await using var daemon = new BastiondProcess(output, "");
        await daemon.StartAndWaitReadyAsync(new Dictionary<string, string> { ["WATCHDOG_USEC"] = "1000000" });
        // Half the interval is 0.5 s: three pings prove it is periodic, not a one-off.
        for (var i = 0; i < 3; i++)
        {
            await daemon.Notify.WaitForAsync("WATCHDOG=1", TimeSpan.FromSeconds(5));
        }
    }

    [Fact]
    public async Task No_watchdog_pings_are_sent_when_systemd_did_not_ask_for_them()
    {
        await using var daemon = new BastiondProcess(output, "");
        await daemon.StartAndWaitReadyAsync(new Dictionary<string, string> { ["WATCHDOG_USEC"] = "200000", ["WATCHDOG_PID"] = "1" });
        await Task.Delay(TimeSpan.FromSeconds(1));
        Assert.DoesNotContain(daemon.Notify.All, n => n.Has("WATCHDOG=1"));
    }

    [Fact]
    public async Task Sighup_sends_RELOADING_with_MONOTONIC_USEC_then_READY()
    {
        await using var daemon = new BastiondProcess(output, "");
        await daemon.StartAndWaitReadyAsync();
        var before = Stopwatch.GetTimestamp() / (Stopwatch.Frequency / 1_000_000);

        daemon.Signal(Posix.SIGHUP);
        var reloading = await daemon.Notify.WaitForAsync("RELOADING=1", Patience);
        var ready = await daemon.Notify.WaitForAsync("READY=1", Patience);

        // .NET's Stopwatch reads CLOCK_MONOTONIC on Linux: the daemon's stamp lies between our two readings.
        var after = Stopwatch.GetTimestamp() / (Stopwatch.Frequency / 1_000_000);
        var stamp = long.Parse(reloading.Get("MONOTONIC_USEC")!, System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(stamp, before, after);
        Assert.True(ready.ReceivedAt >= reloading.ReceivedAt);
        Assert.Equal("nothing to supervise", ready.Get("STATUS"));
        Assert.NotNull(daemon.ReadStatus().Daemon.LastReloadAt);
    }

    [Fact]
    public async Task Sigterm_sends_STOPPING_stops_the_components_and_exits_0()
    {
        await using var sshd = await Sshd.StartAsync(Path.GetTempPath(), output);
        await using var daemon = new BastiondProcess(output, Checks.One("sshd", sshd.Port) + Checks.Item("second", sshd.Port));
        await daemon.StartAndWaitReadyAsync();
        await daemon.WaitForStatusAsync(s => s.Components.All(c => c.State == "Running"), "both checks running");

        daemon.Signal(Posix.SIGTERM);
        await daemon.Notify.WaitForAsync("STOPPING=1", Patience);
        Assert.Equal(0, await daemon.WaitForExitAsync(Patience));

        var final = daemon.ReadStatus();
        Assert.Equal("stopped", final.Daemon.State);
        Assert.All(final.Components, c => Assert.Equal(("Stopped", "daemon stopping"), (c.State, c.Reason)));
        // Reverse order: the second check stopped before the first.
        var stops = daemon.Log.Lines.Where(l => l.Contains("-> Stopped", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, stops.Count);
        Assert.Contains("check/second", stops[0], StringComparison.Ordinal);
        Assert.Contains("check/sshd", stops[1], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Without_NOTIFY_SOCKET_the_daemon_runs_the_same_silently()
    {
        await using var daemon = new BastiondProcess(output, "");
        daemon.Start(new Dictionary<string, string> { ["NOTIFY_SOCKET"] = "" });
        await daemon.WaitForStatusAsync(s => s.Daemon.State == "running", "daemon running");
        daemon.Signal(Posix.SIGHUP);
        await daemon.WaitForStatusAsync(s => s.Daemon.LastReloadAt is not null && s.Daemon.State == "running", "reloaded");
        daemon.Signal(Posix.SIGTERM);
        Assert.Equal(0, await daemon.WaitForExitAsync(Patience));
        Assert.Empty(daemon.Notify.All);
    }
}
