using Bastion.IntegrationTests.Infrastructure;
using Xunit.Abstractions;

namespace Bastion.IntegrationTests.Daemon;

/// <summary>The <c>checks:</c> component against a real OpenSSH sshd: killed, frozen, and the wrong service.</summary>
public sealed class CheckComponentTests(ITestOutputHelper output)
{
    [Fact]
    public async Task A_check_on_a_real_sshd_runs_with_its_banner_as_the_reason()
    {
        await using var sshd = await Sshd.StartAsync(Path.GetTempPath(), output);
        await using var daemon = new BastiondProcess(output, Checks.One("sshd", sshd.Port));
        await daemon.StartAndWaitReadyAsync();
        var check = await daemon.WaitForComponentAsync("sshd", "Running");
        Assert.Equal("check", check.Kind);
        Assert.StartsWith("answering: SSH-2.0-OpenSSH_", check.Reason, StringComparison.Ordinal);
        Assert.Equal($"127.0.0.1:{sshd.Port}", check.Details["endpoint"]);
    }

    [Fact]
    public async Task A_killed_sshd_turns_the_check_Failed_and_its_return_turns_it_Running()
    {
        await using var sshd = await Sshd.StartAsync(Path.GetTempPath(), output);
        await using var daemon = new BastiondProcess(output, Checks.One("sshd", sshd.Port));
        await daemon.StartAndWaitReadyAsync();
        await daemon.WaitForComponentAsync("sshd", "Running");

        await sshd.KillAsync();
        var failed = await daemon.WaitForStatusAsync(s => s.Components.Single().State == "Failed", "check failed");
        Assert.StartsWith($"connection refused by 127.0.0.1:{sshd.Port} (2 probes in a row failed", failed.Components.Single().Reason, StringComparison.Ordinal);
        Assert.StartsWith("checks 0/1 up — check/sshd: Failed (connection refused", failed.Daemon.Summary, StringComparison.Ordinal);
        await daemon.Notify.WaitForAsync(n => n.Get("STATUS")?.StartsWith("checks 0/1 up — check/sshd: Failed (connection refused", StringComparison.Ordinal) == true, BastiondProcess.Patience, "STATUS down");

        await sshd.RestartAsync();
        var back = await daemon.WaitForComponentAsync("sshd", "Running");
        Assert.Equal(1, back.Starts); // the check watched it through; it was never restarted
        await daemon.Notify.WaitForAsync(n => n.Get("STATUS") == "checks 1/1 up", BastiondProcess.Patience, "STATUS up");
    }

    [Fact]
    public async Task A_frozen_sshd_that_accepts_but_never_answers_is_reported_as_no_answer()
    {
        await using var sshd = await Sshd.StartAsync(Path.GetTempPath(), output);
        await using var daemon = new BastiondProcess(output, Checks.One("sshd", sshd.Port));
        await daemon.StartAndWaitReadyAsync();
        await daemon.WaitForComponentAsync("sshd", "Running");

        sshd.Freeze(); // the kernel still completes TCP handshakes into the backlog; no banner ever comes
        try
        {
            var failed = await daemon.WaitForComponentAsync("sshd", "Failed");
            Assert.StartsWith("no answer within " + Checks.Timeout, failed.Reason, StringComparison.Ordinal);
        }
        finally
        {
            sshd.Thaw();
        }
        await daemon.WaitForComponentAsync("sshd", "Running");
    }

    [Fact]
    public async Task A_service_with_another_banner_is_named_in_the_reason()
    {
        await using var sshd = await Sshd.StartAsync(Path.GetTempPath(), output);
        await using var daemon = new BastiondProcess(output, Checks.One("web", sshd.Port).Replace("SSH-2.0-", "HTTP/1.1", StringComparison.Ordinal));
        await daemon.StartAndWaitReadyAsync();
        var status = await daemon.WaitForComponentAsync("web", "Failed");
        Assert.StartsWith("unexpected banner 'SSH-2.0-OpenSSH_", status.Reason, StringComparison.Ordinal);
        Assert.Contains("(expected 'HTTP/1.1…')", status.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_failed_check_keeps_its_details_current_in_the_status_file_between_transitions()
    {
        await using var sshd = await Sshd.StartAsync(Path.GetTempPath(), output);
        await using var daemon = new BastiondProcess(output, Checks.One("sshd", sshd.Port));
        await daemon.StartAndWaitReadyAsync();
        await daemon.WaitForComponentAsync("sshd", "Running");
        await sshd.KillAsync();
        var failed = await daemon.WaitForStatusAsync(s => s.Components.Single().State == "Failed", "check failed");
        var failures = int.Parse(failed.Components.Single().Details["consecutiveFailures"], System.Globalization.CultureInfo.InvariantCulture);

        // No transition happens while it stays Failed; the periodic refresh still brings the probe count up to date.
        var later = await daemon.WaitForStatusAsync(
            s => int.Parse(s.Components.Single().Details["consecutiveFailures"], System.Globalization.CultureInfo.InvariantCulture) >= failures + 3,
            "consecutiveFailures growing", TimeSpan.FromSeconds(30));
        Assert.Equal(failed.Components.Single().Since, later.Components.Single().Since);
        Assert.True(later.Daemon.WrittenAt > failed.Daemon.WrittenAt);
    }
}
