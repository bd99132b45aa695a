using System.Text.RegularExpressions;
using Bastion.IntegrationTests.Infrastructure;
using Xunit.Abstractions;

namespace Bastion.IntegrationTests.Daemon;

public sealed class ConfigAtStartTests(ITestOutputHelper output)
{
    [Fact]
    public async Task A_broken_config_at_start_exits_1_with_every_error_as_file_line_col()
    {
        await using var daemon = new BastiondProcess(output, """
            checks:
              - name: sshd
                endpoint: 127.0.0.1:70000
                intervall: 5s
            """);
        daemon.Start();
        Assert.Equal(1, await daemon.WaitForExitAsync(BastiondProcess.Patience));
        var path = Regex.Escape(daemon.ConfigPath);
        Assert.Contains(daemon.Log.Lines, l => Regex.IsMatch(l, $@"^{path}:\d+:\d+: checks\[0\]\.endpoint: .*65535"));
        Assert.Contains(daemon.Log.Lines, l => Regex.IsMatch(l, $@"^{path}:\d+:\d+: checks\[0\]\.intervall: .*did you mean 'interval'"));
        Assert.Contains(daemon.Log.Lines, l => l.Contains("2 errors in the config; not starting", StringComparison.Ordinal));
        Assert.Empty(daemon.Notify.All); // never READY
    }

    [Fact]
    public async Task Check_config_prints_a_one_line_summary_for_a_valid_config()
    {
        using var root = new TempRoot();
        var config = root.Write("bastion.yaml", "checks:\n  - name: sshd\n    endpoint: 127.0.0.1:22\ndbus:\n  bus: none\n");
        var (code, stdout, stderr) = await RunAsync("--check-config", "--config", config);
        Assert.Equal(0, code);
        Assert.Equal($"{config}: OK: 1 check, 0 tunnels, 0 tls endpoints, no d-bus", stdout.Trim());
        Assert.Equal("", stderr);
    }

    [Fact]
    public async Task Check_config_accepts_the_vnc_endpoint_without_a_backend_and_notes_no_section_as_not_run()
    {
        using var root = new TempRoot();
        // Only the file checks of --check-config look at these (existing, non-empty, key private); no TLS is set up.
        root.Write("server.pem", "certificate\n");
        root.Write("ca.pem", "ca\n");
        File.SetUnixFileMode(root.Write("server.key", "key\n"), UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var config = root.Write("bastion.yaml",
            "tls:\n  - name: vnc\n    mode: listen\n    address: 127.0.0.1:5901\n"
            + "    certificate: server.pem\n    key: server.key\n    ca: ca.pem\n"
            + "vnc:\n  mode: always\n  endpoint: vnc\ndbus:\n  bus: none\n");
        var (code, stdout, stderr) = await RunAsync("--check-config", "--config", config);
        Assert.Equal(0, code);
        Assert.Single(stdout.Trim().Split('\n'));
        Assert.Equal("", stderr); // bastiond runs every section now: no "does not run … yet" note
    }

    [Fact]
    public async Task Check_config_refuses_a_backend_on_the_endpoint_that_fronts_the_desktop()
    {
        using var root = new TempRoot();
        root.Write("server.pem", "certificate\n");
        root.Write("ca.pem", "ca\n");
        File.SetUnixFileMode(root.Write("server.key", "key\n"), UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var config = root.Write("bastion.yaml",
            "tls:\n  - name: vnc\n    mode: listen\n    address: 127.0.0.1:5901\n    backend: unix:/run/bastion/rfb.sock\n"
            + "    certificate: server.pem\n    key: server.key\n    ca: ca.pem\n"
            + "vnc:\n  mode: always\n  endpoint: vnc\ndbus:\n  bus: none\n");
        var (code, _, stderr) = await RunAsync("--check-config", "--config", config);
        Assert.Equal(1, code);
        Assert.Contains("remove backend: from this entry", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Check_config_of_a_missing_file_says_which_file_and_exits_1()
    {
        var (code, _, stderr) = await RunAsync("--check-config", "--config", "/nonexistent/bastion.yaml");
        Assert.Equal(1, code);
        Assert.StartsWith("/nonexistent/bastion.yaml: ", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_unknown_argument_is_a_usage_error()
    {
        var (code, _, stderr) = await RunAsync("--frobnicate");
        Assert.Equal(2, code);
        Assert.Contains("unknown argument '--frobnicate'", stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--config=")]
    [InlineData("--config", "")]
    [InlineData("--config", "--check-config")]
    public async Task A_missing_config_path_is_a_usage_error_not_a_crash(params string[] args)
    {
        var (code, _, stderr) = await RunAsync(args);
        Assert.Equal(2, code);
        Assert.Contains("needs a PATH", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Version_prints_the_version()
    {
        var (code, stdout, _) = await RunAsync("--version");
        Assert.Equal(0, code);
        Assert.Matches(@"^bastiond \d+\.\d+\.\d+$", stdout.Trim());
    }

    private static async Task<(int Code, string Stdout, string Stderr)> RunAsync(params string[] args)
    {
        var result = await ExternalCommand.RunAsync(Binaries.Bastiond, args, TimeSpan.FromSeconds(30));
        Assert.False(result.TimedOut, result.Describe());
        return (result.ExitCode, result.StdOut, result.StdErr);
    }
}
