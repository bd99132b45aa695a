using Bastion.Tor;

namespace Bastion.Tests.Tor;

public sealed class TorOutputTests
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 6, 20, 0, 0, TimeSpan.Zero);

    [Theory]
    [InlineData(137, "[warn] No available nodes when trying to choose node. Failing.", "tor was killed by signal 9 (SIGKILL)")]
    [InlineData(143, null, "tor was killed by signal 15 (SIGTERM)")]
    [InlineData(134, null, "tor was killed by signal 6 (SIGABRT)")]
    [InlineData(1, "[err] Reading config failed--see warnings above.", "tor exited with code 1: [err] Reading config failed--see warnings above.")]
    [InlineData(0, null, "tor exited with code 0 (no error in its log)")]
    public void A_signal_is_named_and_only_an_error_line_is_quoted_as_the_cause(int code, string? lastError, string expected)
    {
        // A SIGKILL's reason never quotes a warning, whatever tor last said.
        var why = TorExit.Describe(code, code > 128 ? lastError : lastError);
        Assert.Equal(expected, why);
        if (code > 128)
        {
            Assert.DoesNotContain("No available nodes", why, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Six_hundred_identical_warnings_in_five_minutes_become_one_line_and_one_count_per_minute()
    {
        var repeats = new RepeatedLines(TimeSpan.FromSeconds(60));
        var logged = 0;
        var summaries = new List<RepeatSummary>();
        for (var i = 0; i < 600; i++)
        {
            var now = T0 + TimeSpan.FromSeconds(i * 0.5);
            var stamp = now.ToString("MMM dd HH:mm:ss.fff", System.Globalization.CultureInfo.InvariantCulture);
            if (repeats.Observe($"{stamp} [warn] Problem bootstrapping. Stuck at 14%: (conn) [{i} similar message(s) suppressed in last 60 seconds]", now))
            {
                logged++;
            }
            if (i % 20 == 0)
            {
                summaries.AddRange(repeats.Flush(now));
            }
        }
        summaries.AddRange(repeats.Flush(T0 + TimeSpan.FromMinutes(6), all: true));
        Assert.Equal(5, logged);
        Assert.Equal(5, summaries.Count);
        Assert.All(summaries, s => Assert.Equal("[warn] Problem bootstrapping. Stuck at 14%: (conn)", s.Line));
        Assert.Equal(600 - 5, summaries.Sum(s => s.Repeats));
    }

    [Fact]
    public void Different_lines_pass_through_and_a_line_after_its_interval_is_logged_again()
    {
        var repeats = new RepeatedLines(TimeSpan.FromSeconds(60));
        Assert.True(repeats.Observe("[warn] a", T0));
        Assert.True(repeats.Observe("[warn] b", T0));
        Assert.False(repeats.Observe("[warn] a", T0 + TimeSpan.FromSeconds(10)));
        Assert.Empty(repeats.Flush(T0 + TimeSpan.FromSeconds(30)));
        var summary = Assert.Single(repeats.Flush(T0 + TimeSpan.FromSeconds(61)));
        Assert.Equal(("[warn] a", 1), (summary.Line, summary.Repeats));
        Assert.True(repeats.Observe("[warn] a", T0 + TimeSpan.FromSeconds(62)));
    }

    [Fact]
    public void The_number_of_tracked_lines_is_bounded()
    {
        var repeats = new RepeatedLines(TimeSpan.FromSeconds(60));
        for (var i = 0; i < RepeatedLines.MaxKeys * 4; i++)
        {
            Assert.True(repeats.Observe($"[warn] line {i}", T0));
        }
        Assert.Empty(repeats.Flush(T0 + TimeSpan.FromMinutes(2)));
    }
}
