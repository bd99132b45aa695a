using Bastion.Config;
using Bastion.Daemon.Checks;
using Bastion.Daemon.Metrics;
using Bastion.Supervision;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace Bastion.Daemon.Tests;

/// <summary>
/// What a scrape reads (<see cref="MetricsSource"/>): the supervisor's components as they are, every passed check probe
/// even when a failure followed it before the scrape, and the outcome of the last reload; all on a fake clock.
/// </summary>
public sealed class MetricsSourceTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(20);
    private static readonly DateTimeOffset T = new(2026, 12, 6, 0, 0, 0, TimeSpan.Zero);

    private sealed class Idle : IComponent
    {
        public async Task RunAsync(IComponentContext context, CancellationToken cancellationToken)
        {
            context.SetDetail("consecutiveFailures", "0");
            context.ReportRunning("idle");
            await Task.Delay(Timeout.InfiniteTimeSpan, cancellationToken);
        }
    }

    private static ComponentSpec Check(string name) => new(new ComponentId("check", name), name, new BackoffConfig(), () => new Idle());

    private static CheckResult Result(string check, bool ok, DateTimeOffset at) => new(check, ok, ok ? "answered" : "refused", at, ok ? 0 : 1);

    [Fact]
    public async Task A_passed_probe_followed_by_a_failure_between_two_scrapes_is_still_the_last_success()
    {
        var time = new FakeTimeProvider(T);
        var supervisor = new Supervisor(time, NullLoggerFactory.Instance);
        var checks = new CheckResults();
        using var source = new MetricsSource(supervisor, checks, T);
        await supervisor.ApplyAsync([Check("sshd")]).WaitAsync(Limit);

        var first = source.Read();
        Assert.Equal(["check/sshd"], first.Components.Select(c => c.Kind + "/" + c.Name));
        Assert.Empty(first.CheckLastSuccess);

        checks.Publish(Result("sshd", ok: true, T.AddSeconds(10)));
        checks.Publish(Result("sshd", ok: false, T.AddSeconds(20)));

        Assert.Equal(T.AddSeconds(10), source.Read().CheckLastSuccess["sshd"]);
        await supervisor.StopAllAsync("test", Limit).WaitAsync(Limit);
    }

    [Fact]
    public async Task A_check_removed_by_a_reload_is_forgotten()
    {
        var time = new FakeTimeProvider(T);
        var supervisor = new Supervisor(time, NullLoggerFactory.Instance);
        var checks = new CheckResults();
        using var source = new MetricsSource(supervisor, checks, T);
        await supervisor.ApplyAsync([Check("sshd"), Check("web")]).WaitAsync(Limit);
        source.Read();
        checks.Publish(Result("web", ok: true, T.AddSeconds(5)));
        Assert.True(source.Read().CheckLastSuccess.ContainsKey("web"));

        await supervisor.ApplyAsync([Check("sshd")]).WaitAsync(Limit);

        Assert.False(source.Read().CheckLastSuccess.ContainsKey("web"));
        await supervisor.StopAllAsync("test", Limit).WaitAsync(Limit);
    }

    [Fact]
    public void A_refused_reload_reads_0_until_the_next_applied_one_which_moves_the_success_time()
    {
        var supervisor = new Supervisor(new FakeTimeProvider(T), NullLoggerFactory.Instance);
        using var source = new MetricsSource(supervisor, new CheckResults(), T);

        Assert.Equal(new Bastion.Metrics.ReloadReading(true, T), source.Read().Reload);
        source.ReloadRefused();
        Assert.Equal(new Bastion.Metrics.ReloadReading(false, T), source.Read().Reload);
        source.ReloadApplied(T.AddMinutes(3));
        Assert.Equal(new Bastion.Metrics.ReloadReading(true, T.AddMinutes(3)), source.Read().Reload);
    }
}
