using static Bastion.Tests.Config.ConfigTestSupport;

namespace Bastion.Tests.Config;

public sealed class ConfigLimitTests
{
    [Fact]
    public void A_stop_timeout_longer_than_systemd_would_wait_is_refused_with_the_reason()
    {
        var error = Assert.Single(Errors("supervision:\n  stopTimeout: 10m\n"));
        Assert.Equal(
            "/etc/bastion/bastion.yaml:2:16: supervision.stopTimeout: 10m is longer than 5m (systemd's TimeoutStopSec would kill bastiond before its components are stopped) — write at most 5m",
            error);
    }

    [Fact]
    public void A_backoff_longer_than_a_day_is_refused()
    {
        var error = Assert.Single(Errors("supervision:\n  backoff:\n    max: 2d\n"));
        Assert.Equal("/etc/bastion/bastion.yaml:3:10: supervision.backoff.max: 2d is longer than 1d — write at most 1d", error);
    }

    [Fact]
    public void The_limits_themselves_are_accepted()
    {
        var config = LoadValid("supervision:\n  stopTimeout: 5m\n  backoff:\n    max: 1d\n    resetAfter: 1d\n");
        Assert.Equal(TimeSpan.FromMinutes(5), config.Supervision.StopTimeout);
        Assert.Equal(TimeSpan.FromDays(1), config.Supervision.Backoff.Max);
    }
}
