using Bastion.Status;

namespace Bastion.IntegrationTests.Cli;

/// <summary>
/// <c>reload</c>: which processes it refuses to signal, and how it reads the daemon's answer from status.json. The fake
/// daemons here answer SIGHUP by renaming a prepared snapshot over status.json, as the daemon writes it (atomically).
/// </summary>
public sealed class BastionctlReloadTests : IDisposable
{
    private readonly TemporaryRuntimeDirectory _runtime = new();

    public void Dispose() => _runtime.Dispose();

    private const string InstallNext = "mv \"$1/next.json\" \"$1/status.json\"";

    [Fact]
    public async Task Reload_refuses_a_pid_that_is_not_bastiond_and_leaves_that_process_alone()
    {
        using var sleep = FakeDaemon.StartSleep("sleep");
        _runtime.Write(Snapshots.Daemon(sleep.Pid));

        var run = await Bastionctl.RunAsync("reload", "--runtime-dir", _runtime.Path);

        Assert.True(run.ExitCode == 3, run.ToString());
        Assert.Contains("bastiond is not running", run.Stderr, StringComparison.Ordinal);
        Assert.Contains($"is now 'sleep' (pid {sleep.Pid}), not bastiond", run.Stderr, StringComparison.Ordinal);
        Assert.Equal("", run.Stdout);
        Assert.True(sleep.StillRunningAfter(TimeSpan.FromMilliseconds(500)), "the process was signalled");
    }

    [Fact]
    public async Task Reload_with_a_pid_that_is_gone_exits_3_and_says_bastiond_is_not_running()
    {
        using (var gone = FakeDaemon.StartSleep("bastiond"))
        {
            _runtime.Write(Snapshots.Daemon(gone.Pid));
        }

        var run = await Bastionctl.RunAsync("reload", "--runtime-dir", _runtime.Path);

        Assert.True(run.ExitCode == 3, run.ToString());
        Assert.Contains("bastiond is not running", run.Stderr, StringComparison.Ordinal);
        Assert.Contains("is gone", run.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Reload_without_a_status_file_exits_3()
    {
        var run = await Bastionctl.RunAsync("reload", "--runtime-dir", _runtime.Path);

        Assert.True(run.ExitCode == 3, run.ToString());
        Assert.Contains($"no status file at {_runtime.StatusFile}", run.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Reload_refuses_while_the_daemon_is_starting_and_sends_no_signal()
    {
        using var daemon = FakeDaemon.StartSleep("bastiond");
        _runtime.Write(Snapshots.Daemon(daemon.Pid, state: "starting"));

        var run = await Bastionctl.RunAsync("reload", "--runtime-dir", _runtime.Path);

        Assert.True(run.ExitCode == 1, run.ToString());
        Assert.Contains("is starting; not reloading now", run.Stderr, StringComparison.Ordinal);
        Assert.True(daemon.StillRunningAfter(TimeSpan.FromMilliseconds(500)), "SIGHUP was sent to a starting daemon");
    }

    [Fact]
    public async Task Reload_prints_reloaded_once_the_status_shows_a_new_reload_and_running()
    {
        using var daemon = await FakeDaemon.StartScriptAsync(_runtime.Path, InstallNext);
        _runtime.Write(Snapshots.Daemon(daemon.Pid, lastReloadAt: DateTimeOffset.UtcNow - TimeSpan.FromHours(1)));
        WriteNext(Snapshots.Daemon(daemon.Pid, lastReloadAt: DateTimeOffset.UtcNow));

        var run = await Bastionctl.RunAsync("reload", "--timeout", "20s", "--runtime-dir", _runtime.Path);

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Equal("reloaded", run.Stdout.Trim());
        Assert.False(File.Exists(NextFile), "the fake daemon never got SIGHUP");
    }

    [Fact]
    public async Task Reload_waits_past_the_reloading_state_for_the_final_answer()
    {
        // The intermediate snapshot carries errors: a reload command that stopped at "reloading" would report them.
        var script = $"mv \"$1/reloading.json\" \"$1/status.json\"; sleep 1; {InstallNext}";
        using var daemon = await FakeDaemon.StartScriptAsync(_runtime.Path, script);
        _runtime.Write(Snapshots.Daemon(daemon.Pid));
        StatusFile.WriteAtomically(Path.Combine(_runtime.Path, "reloading.json"),
            Snapshots.Daemon(daemon.Pid, state: "reloading", lastReloadAt: DateTimeOffset.UtcNow, configErrors: ["not final"]));
        WriteNext(Snapshots.Daemon(daemon.Pid, lastReloadAt: DateTimeOffset.UtcNow));

        var run = await Bastionctl.RunAsync("reload", "--timeout", "20s", "--runtime-dir", _runtime.Path);

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Equal("reloaded", run.Stdout.Trim());
    }

    [Fact]
    public async Task Reload_that_the_daemon_refused_prints_every_config_error_and_exits_1()
    {
        string[] errors =
        [
            "/etc/bastion/bastion.yaml:3:9: tunnels[0].kind: 'sideways' is not a tunnel kind — use local, remote or dynamic",
            "/etc/bastion/bastion.yaml:9:7: tunnels[0].server.hostKey: no host key — pin fingerprints, a knownHosts file or a ca",
        ];
        using var daemon = await FakeDaemon.StartScriptAsync(_runtime.Path, InstallNext);
        _runtime.Write(Snapshots.Daemon(daemon.Pid));
        WriteNext(Snapshots.Daemon(daemon.Pid, lastReloadAt: DateTimeOffset.UtcNow, configErrors: errors));

        var run = await Bastionctl.RunAsync("reload", "--timeout", "20s", "--runtime-dir", _runtime.Path);

        Assert.True(run.ExitCode == 1, run.ToString());
        Assert.Contains("reload refused", run.Stderr, StringComparison.Ordinal);
        Assert.Contains("the daemon keeps running on the last good config", run.Stderr, StringComparison.Ordinal);
        Assert.All(errors, e => Assert.Contains(e, run.Stderr, StringComparison.Ordinal));
        Assert.Equal("", run.Stdout);
    }

    [Fact]
    public async Task Reload_that_the_daemon_never_confirms_times_out_with_exit_1()
    {
        using var daemon = await FakeDaemon.StartScriptAsync(_runtime.Path, onHangup: "");
        _runtime.Write(Snapshots.Daemon(daemon.Pid));

        var run = await Bastionctl.RunAsync("reload", "--timeout", "1s", "--runtime-dir", _runtime.Path);

        Assert.True(run.ExitCode == 1, run.ToString());
        Assert.Contains($"bastiond (pid {daemon.Pid}) did not finish the reload within 1s", run.Stderr, StringComparison.Ordinal);
        Assert.False(daemon.HasExited);
    }

    [Fact]
    public async Task Reload_reports_a_daemon_that_exits_on_SIGHUP_as_unreachable()
    {
        using var daemon = FakeDaemon.StartSleep("bastiond");
        _runtime.Write(Snapshots.Daemon(daemon.Pid));

        var run = await Bastionctl.RunAsync("reload", "--timeout", "20s", "--runtime-dir", _runtime.Path);

        Assert.True(run.ExitCode == 3, run.ToString());
        Assert.Contains($"bastiond (pid {daemon.Pid}) exited during the reload", run.Stderr, StringComparison.Ordinal);
        await daemon.WaitForExitAsync();
    }

    private string NextFile => Path.Combine(_runtime.Path, "next.json");

    private void WriteNext(StatusSnapshot snapshot) => StatusFile.WriteAtomically(NextFile, snapshot);
}
