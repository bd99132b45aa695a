using Bastion.IntegrationTests.Infrastructure;
using Xunit.Abstractions;

namespace Bastion.IntegrationTests.Daemon;

/// <summary>StrictModes for the state and runtime directories, and where start-up errors land in the journal.</summary>
public sealed class DirectoriesAtStartTests(ITestOutputHelper output)
{
    private const UnixFileMode Mode755 = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute |
        UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute;

    [Fact]
    public async Task A_runtime_directory_owned_by_another_user_is_refused_with_the_directory_and_the_fix()
    {
        await using var daemon = new BastiondProcess(output, "");
        Directory.CreateDirectory(daemon.RuntimeDir);
        File.SetUnixFileMode(daemon.RuntimeDir, Mode755);
        await ChownAsync(65534, daemon.RuntimeDir); // nobody: what a hostile local user would hand over
        daemon.Start();
        Assert.Equal(1, await daemon.WaitForExitAsync(BastiondProcess.Patience));
        var line = Assert.Single(daemon.Log.Lines, l => l.Contains("not starting: ", StringComparison.Ordinal));
        Assert.Contains($"{daemon.RuntimeDir}: refused: owned by uid 65534", line, StringComparison.Ordinal);
        Assert.Contains($"chown {Environment.UserName} {daemon.RuntimeDir}", line, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(daemon.RuntimeDir, "status.json")));
        Assert.Empty(daemon.Notify.All);
    }

    [Fact]
    public async Task A_state_directory_the_group_may_write_is_refused_and_the_daemon_does_not_start()
    {
        await using var daemon = new BastiondProcess(output, "");
        Directory.CreateDirectory(daemon.StateDir);
        File.SetUnixFileMode(daemon.StateDir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute |
            UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute);
        daemon.Start();
        Assert.Equal(1, await daemon.WaitForExitAsync(BastiondProcess.Patience));
        Assert.Contains(daemon.Log.Lines, l => l.Contains(
            $"{daemon.StateDir}: refused: mode 0770 lets group or others write into it (they could replace what bastiond writes there) — chmod go-w {daemon.StateDir}",
            StringComparison.Ordinal));
        Assert.Empty(daemon.Notify.All);
    }

    [Fact]
    public async Task Own_directories_are_accepted_and_status_json_is_world_readable_under_umask_0077()
    {
        await using var daemon = new BastiondProcess(output, "");
        daemon.Wrapper = ["sh", "-c", "umask 077 && exec \"$0\" \"$@\""];
        await daemon.StartAndWaitReadyAsync();
        var status = Path.Combine(daemon.RuntimeDir, "status.json");
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead, File.GetUnixFileMode(status));
        Assert.DoesNotContain(Directory.GetFileSystemEntries(daemon.RuntimeDir), e => e.EndsWith(".tmp", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Under_journald_config_errors_at_start_are_logged_at_priority_err()
    {
        await using var daemon = new BastiondProcess(output, "checks:\n  - name: sshd\n    endpoint: 127.0.0.1:70000\n");
        daemon.Start(new Dictionary<string, string> { ["JOURNAL_STREAM"] = "8:12345" });
        Assert.Equal(1, await daemon.WaitForExitAsync(BastiondProcess.Patience));
        Assert.NotEmpty(daemon.Log.Lines);
        Assert.All(daemon.Log.Lines, l => Assert.StartsWith("<3>", l, StringComparison.Ordinal));
        Assert.Contains(daemon.Log.Lines, l => l.StartsWith($"<3>{daemon.ConfigPath}:", StringComparison.Ordinal) && l.Contains("65535", StringComparison.Ordinal));
        Assert.Contains("<3>bastiond: 1 error in the config; not starting", daemon.Log.Lines);
    }

    private static async Task ChownAsync(int uid, string path)
    {
        var result = await ExternalCommand.RunAsync("chown", [uid.ToString(System.Globalization.CultureInfo.InvariantCulture), path], TimeSpan.FromSeconds(10));
        Assert.True(result.ExitCode == 0, result.Describe());
    }
}
