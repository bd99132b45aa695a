using Bastion.IntegrationTests.Infrastructure;
using Xunit.Abstractions;

namespace Bastion.IntegrationTests.Daemon;

/// <summary>SIGHUP: a bad config is refused and the last good one keeps running; a good one is applied as a diff.</summary>
public sealed class ReloadTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Patience = BastiondProcess.Patience;

    [Fact]
    public async Task A_broken_config_on_reload_keeps_the_last_good_one_running_and_says_so_in_STATUS()
    {
        await using var sshd = await Sshd.StartAsync(Path.GetTempPath(), output);
        await using var daemon = new BastiondProcess(output, Checks.One("sshd", sshd.Port));
        await daemon.StartAndWaitReadyAsync();
        var before = await daemon.WaitForComponentAsync("sshd", "Running");

        daemon.WriteConfig(Checks.One("sshd", sshd.Port) + "tunnels: 42\n");
        daemon.Signal(Posix.SIGHUP);
        await daemon.Notify.WaitForAsync("RELOADING=1", Patience);
        var ready = await daemon.Notify.WaitForAsync("READY=1", Patience);

        Assert.StartsWith("reload refused (1 config error; running the last good config); checks 1/1 up", ready.Get("STATUS"), StringComparison.Ordinal);
        var after = daemon.ReadStatus();
        var error = Assert.Single(after.Daemon.ConfigErrors);
        Assert.Matches($@"^{System.Text.RegularExpressions.Regex.Escape(daemon.ConfigPath)}:\d+:\d+: tunnels: ", error);
        await daemon.Log.WaitForLineAsync(l => l.Contains(error, StringComparison.Ordinal), Patience, "the error in the log");
        await daemon.Log.WaitForLineAsync(l => l.Contains("reload refused", StringComparison.Ordinal), Patience, "reload refused in the log");
        var check = after.Components.Single();
        Assert.Equal(("Running", before.Instance, 1L), (check.State, check.Instance, check.Starts));

        // Fixed: the next reload applies and clears the error.
        daemon.WriteConfig(Checks.One("sshd", sshd.Port));
        daemon.Signal(Posix.SIGHUP);
        await daemon.Notify.WaitForAsync("RELOADING=1", Patience);
        ready = await daemon.Notify.WaitForAsync("READY=1", Patience);
        Assert.Equal("checks 1/1 up", ready.Get("STATUS"));
        Assert.Empty(daemon.ReadStatus().Daemon.ConfigErrors);
    }

    [Fact]
    public async Task A_bastiond_started_under_nohup_still_reloads_on_SIGHUP()
    {
        // nohup leaves SIGHUP ignored for what it starts; .NET would keep it ignored and drop every reload by signal.
        await using var sshd = await Sshd.StartAsync(Path.GetTempPath(), output);
        await using var daemon = new BastiondProcess(output, Checks.One("first", sshd.Port)) { Wrapper = ["nohup"] };
        await daemon.StartAndWaitReadyAsync();
        await daemon.WaitForComponentAsync("first", "Running");

        daemon.WriteConfig(Checks.One("second", sshd.Port));
        daemon.Signal(Posix.SIGHUP);
        await daemon.Notify.WaitForAsync("RELOADING=1", Patience);
        await daemon.WaitForStatusAsync(s => s.Components.Count == 1 && s.Components[0].Name == "second", "the reloaded config running");
        Assert.False(daemon.Process.HasExited);
    }

    [Fact]
    public async Task A_reload_restarts_only_what_changed_and_leaves_the_rest_untouched()
    {
        await using var sshd = await Sshd.StartAsync(Path.GetTempPath(), output);
        await using var daemon = new BastiondProcess(output,
            Checks.One("kept", sshd.Port) + Checks.Item("changed", sshd.Port) + Checks.Item("removed", sshd.Port));
        await daemon.StartAndWaitReadyAsync();
        var before = await daemon.WaitForStatusAsync(s => s.Components.Count == 3 && s.Components.All(c => c.State == "Running"), "three checks running");
        var kept = before.Components.Single(c => c.Name == "kept");
        var changed = before.Components.Single(c => c.Name == "changed");

        daemon.WriteConfig(Checks.One("kept", sshd.Port)
            + Checks.Item("changed", sshd.Port).Replace("failures: 2", "failures: 3", StringComparison.Ordinal)
            + Checks.Item("added", sshd.Port));
        daemon.Signal(Posix.SIGHUP);
        await daemon.Notify.WaitForAsync("READY=1", Patience);
        var after = await daemon.WaitForStatusAsync(
            s => s.Components.Count == 3 && s.Components.All(c => c.State == "Running"), "three checks running after reload");

        Assert.Equal(["kept", "changed", "added"], after.Components.Select(c => c.Name));
        var keptAfter = after.Components.Single(c => c.Name == "kept");
        Assert.Equal(kept.Instance, keptAfter.Instance);
        Assert.Equal(1, keptAfter.Starts);
        Assert.Equal(kept.Since, keptAfter.Since);
        Assert.NotEqual(changed.Instance, after.Components.Single(c => c.Name == "changed").Instance);
        await daemon.Log.WaitForLineAsync(l => l.Contains("check/removed: Stopping -> Stopped: removed from config", StringComparison.Ordinal), Patience, "removed stopped");
        await daemon.Log.WaitForLineAsync(l => l.Contains("reload applied: 1 added, 1 removed, 1 changed, 1 unchanged", StringComparison.Ordinal), Patience, "reload applied");
        Assert.DoesNotContain(daemon.Log.Lines, l => l.Contains("check/kept: Running ->", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_reload_that_moves_the_paths_keeps_the_current_ones_until_restart_and_says_so()
    {
        await using var daemon = new BastiondProcess(output, "");
        await daemon.StartAndWaitReadyAsync();
        var elsewhere = daemon.Root.File("elsewhere");
        File.WriteAllText(daemon.ConfigPath, $"paths:\n  stateDir: {elsewhere}/state\n  runtimeDir: {elsewhere}/run\n");

        daemon.Signal(Posix.SIGHUP);
        await daemon.Notify.WaitForAsync("READY=1", Patience);
        await daemon.Log.WaitForLineAsync(l => l.Contains("paths: changes take effect at the next restart", StringComparison.Ordinal), Patience, "paths warning");
        await daemon.WaitForStatusAsync(s => s.Daemon.LastReloadAt is not null, "reload recorded in the old runtime dir");
        Assert.False(Directory.Exists(elsewhere));
    }
}
