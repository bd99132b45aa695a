using Bastion.IntegrationTests.Cli;
using Bastion.IntegrationTests.Infrastructure;
using Xunit.Abstractions;

namespace Bastion.IntegrationTests.Daemon;

/// <summary>bastionctl against the real daemon (the CLI's own tests use prepared status files and stand-ins).</summary>
public sealed class BastionctlAgainstDaemonTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Status_shows_the_running_daemon_and_its_components()
    {
        await using var sshd = await Sshd.StartAsync(Path.GetTempPath(), output);
        await using var daemon = new BastiondProcess(output, Checks.One("sshd", sshd.Port));
        await daemon.StartAndWaitReadyAsync();
        await daemon.WaitForComponentAsync("sshd", "Running");

        var run = await Bastionctl.RunAsync("status", "--runtime-dir", daemon.RuntimeDir);
        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Contains("checks 1/1 up", run.Stdout, StringComparison.Ordinal);
        Assert.Matches(@"check\s+sshd\s+Running", run.Stdout);

        var json = await Bastionctl.RunAsync("status", "--json", "--config", daemon.ConfigPath);
        Assert.True(json.ExitCode == 0, json.ToString());
        Assert.Contains("\"source\": \"status-file\"", json.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Reload_applies_a_good_config_and_reports_every_error_of_a_refused_one()
    {
        await using var sshd = await Sshd.StartAsync(Path.GetTempPath(), output);
        await using var daemon = new BastiondProcess(output, Checks.One("sshd", sshd.Port));
        await daemon.StartAndWaitReadyAsync();

        daemon.WriteConfig(Checks.One("sshd", sshd.Port) + Checks.Item("second", sshd.Port));
        var good = await Bastionctl.RunAsync("reload", "--runtime-dir", daemon.RuntimeDir);
        Assert.True(good.ExitCode == 0, good.ToString());
        Assert.Equal(2, daemon.ReadStatus().Components.Count);

        daemon.WriteConfig(Checks.One("sshd", sshd.Port) + "tunnels: 42\nvnc:\n  mode: sometimes\n");
        var refused = await Bastionctl.RunAsync("reload", "--runtime-dir", daemon.RuntimeDir);
        Assert.True(refused.ExitCode == 1, refused.ToString());
        var all = refused.Stdout + refused.Stderr;
        Assert.Contains($"{daemon.ConfigPath}:", all, StringComparison.Ordinal);
        Assert.Contains("tunnels:", all, StringComparison.Ordinal);
        Assert.Contains("vnc.mode:", all, StringComparison.Ordinal);
        // Still running on the last good config: both checks.
        Assert.Equal(["sshd", "second"], daemon.ReadStatus().Components.Select(c => c.Name));
        Assert.False(daemon.Process.HasExited);
    }

    [Fact]
    public async Task Status_of_a_daemon_that_has_stopped_says_it_is_not_running()
    {
        await using var daemon = new BastiondProcess(output, "");
        await daemon.StartAndWaitReadyAsync();
        daemon.Signal(Posix.SIGTERM);
        Assert.Equal(0, await daemon.WaitForExitAsync(BastiondProcess.Patience));

        var run = await Bastionctl.RunAsync("status", "--runtime-dir", daemon.RuntimeDir);
        Assert.True(run.ExitCode == 3, run.ToString());
        Assert.Contains("not running", run.Stdout + run.Stderr, StringComparison.Ordinal);
    }
}
