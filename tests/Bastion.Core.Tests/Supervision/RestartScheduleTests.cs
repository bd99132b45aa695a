using Bastion.Config;
using Bastion.Supervision;

namespace Bastion.Tests.Supervision;

/// <summary>The restart schedule of a component's own child processes (Xvnc, the desktop's session) on a fake clock.</summary>
public sealed class RestartScheduleTests
{
    private static readonly BackoffConfig Config = new() { Initial = TimeSpan.FromSeconds(1), Max = TimeSpan.FromSeconds(8), ResetAfter = TimeSpan.FromSeconds(30) };
    private readonly RestartSchedule _schedule = new(new BackoffPolicy(Config, () => 1.0), TimeSpan.FromSeconds(10));
    private readonly DateTimeOffset _t0 = new(2026, 11, 23, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public void Quick_ends_and_failed_starts_back_off_exponentially_up_to_the_maximum()
    {
        var delays = new List<double>();
        for (var i = 0; i < 6; i++)
        {
            if (i % 2 == 0)
            {
                _schedule.Started(_t0);
            }
            delays.Add(_schedule.Ended(_t0 + TimeSpan.FromSeconds(1)).TotalSeconds);
        }
        Assert.Equal([1, 2, 4, 8, 8, 8], delays);
        Assert.Equal(6, _schedule.QuickEnds);
    }

    [Fact]
    public void A_run_that_lasted_the_reset_period_starts_the_backoff_from_the_beginning()
    {
        for (var i = 0; i < 4; i++)
        {
            _schedule.Ended(_t0);
        }
        _schedule.Started(_t0);
        Assert.False(_schedule.RanLongEnough(_t0 + TimeSpan.FromSeconds(9)));
        Assert.True(_schedule.RanLongEnough(_t0 + TimeSpan.FromSeconds(10)));
        Assert.Equal(TimeSpan.FromSeconds(1), _schedule.Ended(_t0 + TimeSpan.FromSeconds(10)));
        Assert.Equal(1, _schedule.QuickEnds);
    }

    [Fact]
    public void Reset_forgets_the_history()
    {
        _schedule.Ended(_t0);
        _schedule.Ended(_t0);
        _schedule.Reset();
        Assert.Equal(0, _schedule.QuickEnds);
        Assert.Equal(TimeSpan.FromSeconds(1), _schedule.Ended(_t0));
    }
}
