namespace Bastion.IntegrationTests.Cli;

/// <summary>The command tree itself: version, help, usage errors and the commands that are not there yet.</summary>
public sealed class BastionctlCommandLineTests
{
    [Fact]
    public async Task Version_prints_bastionctl_and_the_version_without_a_commit_suffix()
    {
        var run = await Bastionctl.RunAsync("--version");

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Equal("bastionctl 0.1.0", run.Stdout.Trim());
    }

    [Fact]
    public async Task Help_lists_every_command_and_the_exit_codes()
    {
        var run = await Bastionctl.RunAsync("--help");

        Assert.True(run.ExitCode == 0, run.ToString());
        foreach (var command in new[] { "status", "tunnels", "reload", "restart", "onion", "vnc", "pki", "ssh", "hostkey", "fleet" })
        {
            Assert.Contains(command, run.Stdout, StringComparison.Ordinal);
        }
        Assert.Contains("--runtime-dir", run.Stdout, StringComparison.Ordinal);
        Assert.Contains("--config", run.Stdout, StringComparison.Ordinal);
        Assert.Contains("Exit codes:", run.Stdout, StringComparison.Ordinal);
        Assert.Contains("3  daemon unreachable", run.Stdout, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("frobnicate")]
    [InlineData("status", "--no-such-option")]
    [InlineData("restart")]
    [InlineData("--runtime-dir", "/tmp/a", "--config", "/tmp/b.yaml", "status")]
    public async Task A_wrong_command_line_exits_2_with_the_error_on_stderr(params string[] args)
    {
        var run = await Bastionctl.RunAsync(args);

        Assert.True(run.ExitCode == 2, run.ToString());
        Assert.StartsWith("bastionctl: ", run.Stderr, StringComparison.Ordinal);
        Assert.Equal("", run.Stdout);
    }

    [Fact]
    public async Task A_timeout_without_a_unit_is_refused_with_a_hint()
    {
        var run = await Bastionctl.RunAsync("reload", "--timeout", "30");

        Assert.True(run.ExitCode == 2, run.ToString());
        Assert.Contains("write e.g. 30s", run.Stderr, StringComparison.Ordinal);
    }
}
