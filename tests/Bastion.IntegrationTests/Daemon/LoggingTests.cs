using System.Text.Json;
using System.Text.RegularExpressions;
using Bastion.IntegrationTests.Infrastructure;
using Xunit.Abstractions;

namespace Bastion.IntegrationTests.Daemon;

/// <summary>What the daemon's log looks like to journald, to grep and to a JSON pipeline.</summary>
public sealed class LoggingTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Under_journald_every_line_starts_with_the_syslog_priority_of_its_level()
    {
        await using var sshd = await Sshd.StartAsync(Path.GetTempPath(), output);
        await using var daemon = new BastiondProcess(output, Checks.One("sshd", sshd.Port));
        await daemon.StartAndWaitReadyAsync(new Dictionary<string, string> { ["JOURNAL_STREAM"] = "8:12345" });
        await daemon.WaitForComponentAsync("sshd", "Running");
        await sshd.KillAsync();
        await daemon.WaitForComponentAsync("sshd", "Failed");

        await daemon.Log.WaitForLineAsync(l => l.StartsWith("<6>INF Component.check: check/sshd: Starting -> Running: answering: SSH-2.0-", StringComparison.Ordinal), BastiondProcess.Patience, "INF line");
        await daemon.Log.WaitForLineAsync(l => l.StartsWith("<4>WRN Component.check: check/sshd: ", StringComparison.Ordinal) && l.Contains("-> Failed: connection refused", StringComparison.Ordinal), BastiondProcess.Patience, "WRN line");
        Assert.All(daemon.Log.Lines, l => Assert.Matches(@"^<[2-7]>(TRC|DBG|INF|WRN|ERR|FTL) ", l));
    }

    [Fact]
    public async Task Outside_journald_lines_start_with_a_UTC_timestamp_and_strings_are_not_quoted()
    {
        await using var daemon = new BastiondProcess(output, "");
        await daemon.StartAndWaitReadyAsync();
        // READY can arrive on the socket before the same event's line is read from stderr: wait for the line.
        var ready = await daemon.Log.WaitForLineAsync(l => l.Contains(" ready: ", StringComparison.Ordinal), BastiondProcess.Patience, "ready line");
        Assert.Matches(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INF Daemon\.Hosting\.DaemonService: ready: nothing to supervise$", ready);
    }

    [Fact]
    public async Task Json_logging_writes_one_parseable_object_per_line()
    {
        await using var sshd = await Sshd.StartAsync(Path.GetTempPath(), output);
        await using var daemon = new BastiondProcess(output, "logging:\n  format: json\n" + Checks.One("sshd", sshd.Port));
        await daemon.StartAndWaitReadyAsync();
        await daemon.WaitForComponentAsync("sshd", "Running");
        daemon.Signal(Posix.SIGTERM);
        Assert.Equal(0, await daemon.WaitForExitAsync(BastiondProcess.Patience));

        var events = daemon.Log.Lines.Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.All(events, e => Assert.True(e.TryGetProperty("@t", out _) && e.TryGetProperty("@mt", out _)));
        Assert.Contains(events, e => e.GetProperty("@mt").GetString() == "ready: {Summary}");
        Assert.Contains(events, e => e.TryGetProperty("Component", out var c) && c.GetString() == "check/sshd");
    }

    [Fact]
    public async Task A_reload_applies_a_new_log_level()
    {
        // A check of a port nothing listens on fails at once: a warning we can count on, logged after "starting" (INF).
        var closed = "checks:\n  - name: closed\n    endpoint: 127.0.0.1:" + FreePort.Pick().ToString(System.Globalization.CultureInfo.InvariantCulture)
            + "\n    interval: 1s\n    timeout: 500ms\ndbus:\n  bus: none\n";
        await using var daemon = new BastiondProcess(output, "logging:\n  level: warning\n" + closed);
        await daemon.StartAndWaitReadyAsync();
        // Once the warning is read, an INF line logged before it would have been read too.
        await daemon.Log.WaitForLineAsync(l => l.Contains(" WRN ", StringComparison.Ordinal), BastiondProcess.Patience, "the failing check's warning");
        Assert.DoesNotContain(daemon.Log.Lines, l => l.Contains(" INF ", StringComparison.Ordinal));

        daemon.WriteConfig("logging:\n  level: information\n" + closed);
        daemon.Signal(Posix.SIGHUP);
        await daemon.Notify.WaitForAsync("READY=1", BastiondProcess.Patience);
        await daemon.Log.WaitForLineAsync(l => Regex.IsMatch(l, " INF .*reload applied"), BastiondProcess.Patience, "reload applied at INF");
    }
}
