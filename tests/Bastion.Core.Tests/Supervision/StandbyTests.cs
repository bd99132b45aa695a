using Bastion.Supervision;

namespace Bastion.Tests.Supervision;

/// <summary>Standby: a component idle on purpose (the emergency desktop while sshd is fine) — a state, not a problem.</summary>
public sealed class StandbyTests
{
    [Fact]
    public async Task A_standby_report_is_a_state_with_its_reason()
    {
        var time = Clocks.Fake();
        var raise = new SemaphoreSlim(0);
        var component = new ScriptedComponent(async (ctx, _, ct) =>
        {
            ctx.ReportStandby("lowered: check/sshd is healthy");
            await raise.WaitAsync(ct);
            ctx.ReportRunning("raised: check/sshd failed 3 probes in a row");
            await Task.Delay(Timeout.Infinite, ct);
        });
        using var supervisor = Supervisors.Of(Specs.Of("a", "x", component), time);
        supervisor.Start();

        await Wait.ForStateAsync(supervisor, ComponentState.Standby, 1);
        Assert.Equal("lowered: check/sshd is healthy", supervisor.State.Reason);

        raise.Release();
        await Wait.ForStateAsync(supervisor, ComponentState.Running, 1);
        Assert.Equal("raised: check/sshd failed 3 probes in a row", supervisor.State.Reason);
        await supervisor.StopAsync("test over", TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task A_run_that_stayed_in_standby_for_the_reset_period_counts_as_up_and_restarts_with_the_initial_delay()
    {
        var time = Clocks.Fake();
        var failNow = new SemaphoreSlim(0);
        var component = new ScriptedComponent(async (ctx, attempt, ct) =>
        {
            if (attempt <= 3)
            {
                throw new ComponentFailureException("refused");
            }
            ctx.ReportStandby("lowered: check/sshd is healthy");
            await failNow.WaitAsync(ct);
            throw new ComponentFailureException("gate lost");
        });
        using var supervisor = Supervisors.Of(Specs.Of("a", "x", component), time);
        supervisor.Start();
        for (var start = 1; start <= 3; start++)
        {
            await Wait.ForStateAsync(supervisor, ComponentState.Backoff, start);
            time.Advance(TimeSpan.FromSeconds(8));
        }
        await Wait.ForStateAsync(supervisor, ComponentState.Standby, 4);

        time.Advance(TimeSpan.FromSeconds(30)); // the reset period, all of it in standby
        failNow.Release();
        await Wait.ForStateAsync(supervisor, ComponentState.Backoff, 4);
        Assert.Equal("gate lost; retrying in 1s", supervisor.State.Reason); // not 8s: standby was up
        await supervisor.StopAsync("test over", TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task A_short_standby_does_not_reset_the_backoff()
    {
        var time = Clocks.Fake();
        var component = new ScriptedComponent(async (ctx, attempt, ct) =>
        {
            var up = Task.Delay(TimeSpan.FromSeconds(29), ctx.Time, ct); // the timer exists before Standby is seen
            ctx.ReportStandby("lowered");
            await up;
            throw new ComponentFailureException("gate lost");
        });
        using var supervisor = Supervisors.Of(Specs.Of("a", "x", component), time);
        supervisor.Start();
        await Wait.ForStateAsync(supervisor, ComponentState.Standby, 1);
        time.Advance(TimeSpan.FromSeconds(29));
        await Wait.ForStateAsync(supervisor, ComponentState.Backoff, 1);
        time.Advance(TimeSpan.FromSeconds(1));
        await Wait.ForStateAsync(supervisor, ComponentState.Standby, 2);
        time.Advance(TimeSpan.FromSeconds(29));
        await Wait.ForStateAsync(supervisor, ComponentState.Backoff, 2);
        Assert.Equal("gate lost; retrying in 2s", supervisor.State.Reason);
        await supervisor.StopAsync("test over", TimeSpan.FromSeconds(5));
    }
}
