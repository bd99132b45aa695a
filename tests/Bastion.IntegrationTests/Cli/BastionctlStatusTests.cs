using System.Diagnostics;
using System.Text.Json;
using Bastion.Status;

namespace Bastion.IntegrationTests.Cli;

/// <summary>
/// <c>status</c> and <c>tunnels</c> against a status.json written into a temp runtime dir. The snapshot names this test
/// process's pid, which is alive and older than the file, so it counts as the running daemon.
/// </summary>
public sealed class BastionctlStatusTests : IDisposable
{
    private readonly TemporaryRuntimeDirectory _runtime = new();

    public void Dispose() => _runtime.Dispose();

    [Fact]
    public async Task Status_prints_the_daemon_and_a_row_per_component_with_the_long_reason_whole()
    {
        _runtime.Write(Snapshots.Daemon(Environment.ProcessId));

        var run = await Bastionctl.RunAsync("status", "--runtime-dir", _runtime.Path);

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Equal("", run.Stderr);
        var lines = run.Stdout.Split('\n');
        Assert.Contains(lines, l => l.StartsWith("daemon", StringComparison.Ordinal)
            && l.Contains($"running, pid {Environment.ProcessId}, version 0.1.0", StringComparison.Ordinal));
        Assert.Contains("1 of 2 tunnels up; onion published", run.Stdout, StringComparison.Ordinal);
        Assert.Contains("/etc/bastion/bastion.yaml", run.Stdout, StringComparison.Ordinal);
        Assert.Contains(lines, l => l.StartsWith("last reload", StringComparison.Ordinal) && l.Contains("never", StringComparison.Ordinal));
        Assert.Matches(@"KIND\s+NAME\s+STATE\s+SINCE\s+REASON", run.Stdout);
        Assert.Matches(@"tunnel\s+office\s+Running\s+3m\d+s ago\s+forwarding 127\.0\.0\.1:2222", run.Stdout);
        Assert.Matches(@"check\s+sshd\s+Running\s+1h30m ago", run.Stdout);
        Assert.Matches(@"onion\s+sshd-onion\s+Running", run.Stdout);
        Assert.Matches(@"tor\s+tor\s+Running", run.Stdout);
        Assert.Contains(lines, l => l.Contains("home-via-tor", StringComparison.Ordinal) && l.EndsWith(Snapshots.LongReason, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Status_on_a_narrow_terminal_wraps_the_long_reason_without_losing_a_word()
    {
        _runtime.Write(Snapshots.Daemon(Environment.ProcessId));

        var run = await Bastionctl.RunAsync(["status", "--runtime-dir", _runtime.Path], null,
            new Dictionary<string, string> { ["COLUMNS"] = "100" });

        Assert.True(run.ExitCode == 0, run.ToString());
        var lines = run.Stdout.Split('\n');
        var reasonColumn = lines.Single(l => l.StartsWith("KIND", StringComparison.Ordinal)).IndexOf("REASON", StringComparison.Ordinal);
        var row = Array.FindIndex(lines, l => l.Contains("home-via-tor", StringComparison.Ordinal));
        var reasonLines = lines.Skip(row)
            .TakeWhile((line, i) => i == 0 || (line.Length > reasonColumn && line[..reasonColumn].Trim().Length == 0))
            .Select(line => line[reasonColumn..])
            .ToList();
        Assert.All(lines, l => Assert.True(l.Length <= 100, $"line longer than COLUMNS=100: {l}"));
        Assert.True(reasonLines.Count > 1, run.ToString());
        Assert.Equal(Snapshots.LongReason, string.Join(' ', reasonLines));
    }

    [Fact]
    public async Task Status_shows_a_refused_reload_and_every_config_error()
    {
        string[] errors =
        [
            "/etc/bastion/bastion.yaml:12:7: tunnels[0].server.port: 70000 is not a port — use 1-65535",
            "/etc/bastion/bastion.yaml:20:5: vnc.fallback.check: no check named 'ssh' — add it under checks: or fix the name",
        ];
        _runtime.Write(Snapshots.Daemon(Environment.ProcessId, lastReloadAt: DateTimeOffset.UtcNow, configErrors: errors));

        var run = await Bastionctl.RunAsync("status", "--runtime-dir", _runtime.Path);

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Contains("REFUSED, bastiond keeps running on the last good config", run.Stdout, StringComparison.Ordinal);
        Assert.All(errors, e => Assert.Contains(e, run.Stdout, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Status_json_is_the_snapshot_with_its_source_and_parses_back()
    {
        var snapshot = Snapshots.Daemon(Environment.ProcessId, lastReloadAt: DateTimeOffset.UtcNow - TimeSpan.FromMinutes(5));
        _runtime.Write(snapshot);

        var run = await Bastionctl.RunAsync("status", "--json", "--runtime-dir", _runtime.Path);

        Assert.True(run.ExitCode == 0, run.ToString());
        using var json = JsonDocument.Parse(run.Stdout);
        var root = json.RootElement;
        Assert.Equal("status-file", root.GetProperty("source").GetString());
        Assert.False(root.GetProperty("stale").GetBoolean());
        Assert.Equal(StatusSnapshot.CurrentSchema, root.GetProperty("schema").GetInt32());

        var daemon = root.GetProperty("daemon");
        Assert.Equal(Environment.ProcessId, daemon.GetProperty("pid").GetInt32());
        Assert.Equal("running", daemon.GetProperty("state").GetString());
        Assert.Equal("0.1.0", daemon.GetProperty("version").GetString());
        Assert.Equal(snapshot.Daemon.Summary, daemon.GetProperty("summary").GetString());
        Assert.Equal(snapshot.Daemon.ConfigPath, daemon.GetProperty("configPath").GetString());
        Assert.Equal(snapshot.Daemon.StartedAt, daemon.GetProperty("startedAt").GetDateTimeOffset());
        Assert.Equal(snapshot.Daemon.LastReloadAt, daemon.GetProperty("lastReloadAt").GetDateTimeOffset());
        Assert.Equal(0, daemon.GetProperty("configErrors").GetArrayLength());
        Assert.Equal(snapshot.Daemon.WrittenAt, daemon.GetProperty("writtenAt").GetDateTimeOffset());

        var components = root.GetProperty("components").EnumerateArray().ToList();
        Assert.Equal(snapshot.Components.Select(c => c.Name), components.Select(c => c.GetProperty("name").GetString()));
        var slow = components.Single(c => c.GetProperty("name").GetString() == "home-via-tor");
        Assert.Equal("tunnel", slow.GetProperty("kind").GetString());
        Assert.Equal("Backoff", slow.GetProperty("state").GetString());
        Assert.Equal(Snapshots.LongReason, slow.GetProperty("reason").GetString());
        Assert.Equal(snapshot.Components[2].Since, slow.GetProperty("since").GetDateTimeOffset());
        Assert.Equal(7, slow.GetProperty("starts").GetInt64());
        Assert.Equal("home-via-tor-1", slow.GetProperty("instance").GetString());
        Assert.Equal("detail", slow.GetProperty("details").GetProperty("example").GetString());
    }

    [Fact]
    public async Task Tunnels_shows_only_the_tunnels()
    {
        _runtime.Write(Snapshots.Daemon(Environment.ProcessId));

        var run = await Bastionctl.RunAsync("tunnels", "--runtime-dir", _runtime.Path);

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Contains("office", run.Stdout, StringComparison.Ordinal);
        Assert.Contains(Snapshots.LongReason, run.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("sshd-onion", run.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("bootstrapped", run.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Tunnels_json_lists_only_components_of_kind_tunnel()
    {
        _runtime.Write(Snapshots.Daemon(Environment.ProcessId));

        var run = await Bastionctl.RunAsync("tunnels", "--json", "--runtime-dir", _runtime.Path);

        Assert.True(run.ExitCode == 0, run.ToString());
        using var json = JsonDocument.Parse(run.Stdout);
        var names = json.RootElement.GetProperty("components").EnumerateArray()
            .Select(c => (c.GetProperty("kind").GetString(), c.GetProperty("name").GetString()));
        Assert.Equal([("tunnel", "office"), ("tunnel", "home-via-tor")], names);
    }

    [Fact]
    public async Task Tunnels_says_so_when_none_are_configured()
    {
        var now = DateTimeOffset.UtcNow;
        _runtime.Write(Snapshots.Daemon(Environment.ProcessId, components: [Snapshots.Component("check", "sshd", "Running", "ok", now)]));

        var run = await Bastionctl.RunAsync("tunnels", "--runtime-dir", _runtime.Path);

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Contains("no tunnels configured", run.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Without_a_status_file_status_exits_3_and_asks_whether_bastiond_runs()
    {
        var run = await Bastionctl.RunAsync("status", "--runtime-dir", _runtime.Path);

        Assert.True(run.ExitCode == 3, run.ToString());
        Assert.Equal("", run.Stdout);
        Assert.Contains($"bastionctl: no status file at {_runtime.StatusFile} — is bastiond running? (systemctl status bastion)",
            run.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_status_file_that_is_not_json_exits_3_and_names_the_file()
    {
        await File.WriteAllTextAsync(_runtime.StatusFile, "{ half a fi");

        var run = await Bastionctl.RunAsync("status", "--runtime-dir", _runtime.Path);

        Assert.True(run.ExitCode == 3, run.ToString());
        Assert.Contains($"{_runtime.StatusFile} is not a bastiond status file", run.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task With_a_pid_that_is_gone_status_shows_the_last_known_status_marked_stale_and_exits_3()
    {
        _runtime.Write(Snapshots.Daemon(await ExitedPidAsync()));

        var run = await Bastionctl.RunAsync("status", "--runtime-dir", _runtime.Path);

        Assert.True(run.ExitCode == 3, run.ToString());
        Assert.Contains("bastiond is not running", run.Stderr, StringComparison.Ordinal);
        Assert.StartsWith("bastiond is NOT RUNNING", run.Stdout, StringComparison.Ordinal);
        Assert.Contains("Last known status", run.Stdout, StringComparison.Ordinal);
        Assert.Contains("home-via-tor", run.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task With_a_pid_that_is_gone_status_json_says_stale_and_exits_3()
    {
        _runtime.Write(Snapshots.Daemon(await ExitedPidAsync()));

        var run = await Bastionctl.RunAsync("status", "--json", "--runtime-dir", _runtime.Path);

        Assert.True(run.ExitCode == 3, run.ToString());
        using var json = JsonDocument.Parse(run.Stdout);
        Assert.True(json.RootElement.GetProperty("stale").GetBoolean());
        Assert.Contains("not running", run.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Config_finds_the_runtime_dir_relative_to_the_config_file()
    {
        Directory.CreateDirectory(Path.Combine(_runtime.Path, "etc"));
        Directory.CreateDirectory(Path.Combine(_runtime.Path, "run"));
        await File.WriteAllTextAsync(Path.Combine(_runtime.Path, "etc", "bastion.yaml"), "paths:\n  runtimeDir: ../run\n");
        StatusFile.WriteAtomically(Path.Combine(_runtime.Path, "run", StatusSnapshot.FileName), Snapshots.Daemon(Environment.ProcessId));

        // From another directory, with a relative --config: ../run must resolve against etc/, not against the cwd.
        var cwd = Directory.CreateDirectory(Path.Combine(_runtime.Path, "elsewhere")).FullName;
        var run = await Bastionctl.RunAsync(["--config", "../etc/bastion.yaml", "tunnels"], cwd, null);

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Contains("home-via-tor", run.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_config_that_cannot_be_read_exits_1_and_suggests_runtime_dir()
    {
        var missing = Path.Combine(_runtime.Path, "no-such.yaml");

        var run = await Bastionctl.RunAsync("status", "--config", missing);

        Assert.True(run.ExitCode == 1, run.ToString());
        Assert.Contains($"cannot read paths.runtimeDir from {missing}", run.Stderr, StringComparison.Ordinal);
        Assert.Contains("--runtime-dir", run.Stderr, StringComparison.Ordinal);
    }

    /// <summary>The pid of a process that has exited and been reaped.</summary>
    private static async Task<int> ExitedPidAsync()
    {
        using var process = Process.Start(new ProcessStartInfo("/bin/true") { UseShellExecute = false })
            ?? throw new InvalidOperationException("/bin/true did not start");
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await process.WaitForExitAsync(timeout.Token);
        return process.Id;
    }
}
