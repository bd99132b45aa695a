using Bastion.Config;
using Bastion.Supervision;

namespace Bastion.Tests.Supervision;

public sealed class BackoffPolicyTests
{
    private static readonly BackoffConfig Config = new()
    {
        Initial = TimeSpan.FromSeconds(1),
        Max = TimeSpan.FromSeconds(60),
        ResetAfter = TimeSpan.FromSeconds(30),
    };

    [Fact]
    public void Ceiling_doubles_per_attempt_and_stops_at_the_cap()
    {
        var policy = new BackoffPolicy(Config);
        var ceilings = Enumerable.Range(0, 9).Select(a => policy.Ceiling(a).TotalSeconds).ToArray();
        Assert.Equal([1, 2, 4, 8, 16, 32, 60, 60, 60], ceilings);
    }

    [Fact]
    public void A_huge_attempt_count_does_not_overflow()
    {
        var policy = new BackoffPolicy(Config);
        Assert.Equal(TimeSpan.FromSeconds(60), policy.Ceiling(int.MaxValue));
    }

    [Theory]
    [InlineData(0.0, 100)]
    [InlineData(1.0, 8000)]
    [InlineData(0.5, 4050)]
    public void Delay_is_full_jitter_between_the_floor_and_the_ceiling(double random, int expectedMs)
    {
        var policy = new BackoffPolicy(Config, () => random);
        Assert.Equal(TimeSpan.FromMilliseconds(expectedMs), policy.NextDelay(3));
    }

    [Fact]
    public void Delays_drawn_with_the_real_random_source_stay_within_bounds_and_spread_out()
    {
        var policy = new BackoffPolicy(Config);
        var delays = Enumerable.Range(0, 1000).Select(_ => policy.NextDelay(5)).ToList();
        Assert.All(delays, d => Assert.InRange(d, TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(32)));
        // Full jitter: retries of many components must not land together.
        Assert.True(delays.Distinct().Count() > 900);
        Assert.InRange(delays.Average(d => d.TotalSeconds), 12, 20);
    }

    [Fact]
    public void An_initial_delay_below_the_floor_is_used_as_is()
    {
        var policy = new BackoffPolicy(Config with { Initial = TimeSpan.FromMilliseconds(20) }, () => 0.0);
        Assert.Equal(TimeSpan.FromMilliseconds(20), policy.NextDelay(0));
    }

    [Fact]
    public void Only_a_run_as_long_as_the_reset_period_earns_a_reset()
    {
        var policy = new BackoffPolicy(Config);
        Assert.False(policy.EarnsReset(TimeSpan.FromSeconds(29.9)));
        Assert.True(policy.EarnsReset(TimeSpan.FromSeconds(30)));
    }
}
