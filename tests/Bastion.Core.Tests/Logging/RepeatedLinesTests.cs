using Bastion.Logging;
using Bastion.Tor;

namespace Bastion.Tests.Logging;

public sealed class RepeatedLinesTests
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 6, 20, 0, 0, TimeSpan.Zero);

    [Fact]
    public void Six_hundred_identical_warnings_in_five_minutes_become_one_line_and_one_count_per_minute()
    {
        var repeats = new RepeatedLines(TimeSpan.FromSeconds(60), TorText.RepeatKey);
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

    [Fact]
    public void Without_a_key_function_lines_are_compared_as_they_are()
    {
        var repeats = new RepeatedLines(TimeSpan.FromSeconds(60));
        Assert.True(repeats.Observe("Nov 23 01:02:03.456 [warn] a", T0));
        Assert.True(repeats.Observe("Nov 23 01:02:04.456 [warn] a", T0 + TimeSpan.FromSeconds(1)));
        Assert.True(repeats.Observe("BadSignature", T0));
        Assert.False(repeats.Observe("BadSignature", T0 + TimeSpan.FromSeconds(1)));
        var summary = Assert.Single(repeats.Flush(T0 + TimeSpan.FromSeconds(60)));
        Assert.Equal(("BadSignature", 1, TimeSpan.FromSeconds(60)), (summary.Line, summary.Repeats, summary.Over));
    }

    [Fact]
    public void The_summary_carries_the_key_so_variants_of_a_line_are_counted_as_one()
    {
        var repeats = new RepeatedLines(TimeSpan.FromSeconds(60), line => line.ToUpperInvariant());
        Assert.True(repeats.Observe("disk full", T0));
        Assert.False(repeats.Observe("Disk Full", T0 + TimeSpan.FromSeconds(5)));
        Assert.False(repeats.Observe("DISK FULL", T0 + TimeSpan.FromSeconds(6)));
        var summary = Assert.Single(repeats.Flush(T0, all: true));
        Assert.Equal(("DISK FULL", 2), (summary.Line, summary.Repeats));
    }

    [Fact]
    public void A_count_whose_interval_ended_before_a_flush_comes_out_with_the_next_flush()
    {
        var repeats = new RepeatedLines(TimeSpan.FromSeconds(60));
        Assert.True(repeats.Observe("a", T0));
        Assert.False(repeats.Observe("a", T0 + TimeSpan.FromSeconds(30)));
        // No flush in between: the line's next occurrence opens a new interval and is logged at once.
        Assert.True(repeats.Observe("a", T0 + TimeSpan.FromSeconds(90)));
        var summary = Assert.Single(repeats.Flush(T0 + TimeSpan.FromSeconds(100)));
        Assert.Equal(("a", 1, TimeSpan.FromSeconds(90)), (summary.Line, summary.Repeats, summary.Over));
        Assert.Empty(repeats.Flush(T0 + TimeSpan.FromSeconds(100)));
    }
}
