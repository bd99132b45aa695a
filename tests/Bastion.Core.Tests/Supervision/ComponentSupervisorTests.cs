using Bastion.Supervision;

namespace Bastion.Tests.Supervision;

public sealed class ComponentSupervisorTests
{
    [Fact]
    public async Task A_failing_component_waits_out_its_backoff_on_the_clock_before_it_is_restarted()
    {
        var time = Clocks.Fake();
        var component = ScriptedComponent.AlwaysFails("connection refused");
        using var supervisor = Supervisors.Of(Specs.Of("a", "x", component), time);

        supervisor.Start();
        await Wait.ForStateAsync(supervisor, ComponentState.Backoff, 1);
        Assert.Equal("connection refused; retrying in 1s", supervisor.State.Reason);

        time.Advance(TimeSpan.FromMilliseconds(999));
        await Task.Delay(50);
        Assert.Equal(1, component.Attempts);

        time.Advance(TimeSpan.FromMilliseconds(1));
        await Wait.ForStateAsync(supervisor, ComponentState.Backoff, 2);
        Assert.Equal("connection refused; retrying in 2s", supervisor.State.Reason);
        await supervisor.StopAsync("test over", TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task Retry_delays_double_up_to_the_cap()
    {
        var time = Clocks.Fake();
        var component = ScriptedComponent.AlwaysFails("timed out");
        using var supervisor = Supervisors.Of(Specs.Of("a", "x", component), time);
        supervisor.Start();

        var seen = new List<string>();
        for (var start = 1; start <= 6; start++)
        {
            await Wait.ForStateAsync(supervisor, ComponentState.Backoff, start);
            var reason = supervisor.State.Reason;
            seen.Add(reason[(reason.LastIndexOf(' ') + 1)..]);
            time.Advance(TimeSpan.FromSeconds(8));
        }
        Assert.Equal(["1s", "2s", "4s", "8s", "8s", "8s"], seen);
        await supervisor.StopAsync("test over", TimeSpan.FromSeconds(5));
    }

    /// <summary>Up for backoff purposes: Running, Degraded, and Standby (idle on purpose, e.g. the desktop while sshd is fine).</summary>
    private static void ReportUp(IComponentContext context, ComponentState state)
    {
        switch (state)
        {
            case ComponentState.Standby: context.ReportStandby("lowered"); break;
            case ComponentState.Degraded: context.ReportDegraded("impaired"); break;
            default: context.ReportRunning("up"); break;
        }
    }

    [Theory]
    [InlineData(ComponentState.Running)]
    [InlineData(ComponentState.Degraded)]
    [InlineData(ComponentState.Standby)]
    public async Task A_run_that_stayed_up_for_the_reset_period_restarts_with_the_initial_delay(ComponentState up)
    {
        var time = Clocks.Fake();
        var failNow = new SemaphoreSlim(0);
        var component = new ScriptedComponent(async (ctx, attempt, ct) =>
        {
            if (attempt <= 3)
            {
                throw new ComponentFailureException("refused");
            }
            ReportUp(ctx, up);
            await failNow.WaitAsync(ct);
            throw new ComponentFailureException("connection reset");
        });
        using var supervisor = Supervisors.Of(Specs.Of("a", "x", component), time);
        supervisor.Start();
        for (var start = 1; start <= 3; start++)
        {
            await Wait.ForStateAsync(supervisor, ComponentState.Backoff, start);
            time.Advance(TimeSpan.FromSeconds(8));
        }
        await Wait.ForStateAsync(supervisor, up, 4);

        time.Advance(TimeSpan.FromSeconds(30)); // the reset period
        failNow.Release();
        await Wait.ForStateAsync(supervisor, ComponentState.Backoff, 4);
        Assert.Equal("connection reset; retrying in 1s", supervisor.State.Reason);
        await supervisor.StopAsync("test over", TimeSpan.FromSeconds(5));
    }

    [Theory]
    [InlineData(ComponentState.Running)]
    [InlineData(ComponentState.Degraded)]
    [InlineData(ComponentState.Standby)]
    public async Task A_run_shorter_than_the_reset_period_keeps_growing_the_delay(ComponentState up)
    {
        var time = Clocks.Fake();
        var component = new ScriptedComponent(async (ctx, attempt, ct) =>
        {
            var ended = Task.Delay(TimeSpan.FromSeconds(29), ctx.Time, ct); // the timer exists before the up state is seen
            ReportUp(ctx, up);
            await ended;
            throw new ComponentFailureException("connection reset");
        });
        using var supervisor = Supervisors.Of(Specs.Of("a", "x", component), time);
        supervisor.Start();
        await Wait.ForStateAsync(supervisor, up, 1);
        time.Advance(TimeSpan.FromSeconds(29));
        await Wait.ForStateAsync(supervisor, ComponentState.Backoff, 1);
        time.Advance(TimeSpan.FromSeconds(1));
        await Wait.ForStateAsync(supervisor, up, 2);
        time.Advance(TimeSpan.FromSeconds(29));
        await Wait.ForStateAsync(supervisor, ComponentState.Backoff, 2);
        Assert.Equal("connection reset; retrying in 2s", supervisor.State.Reason);
        await supervisor.StopAsync("test over", TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task An_unexpected_exception_becomes_a_state_with_its_type_but_never_its_message()
    {
        var time = Clocks.Fake();
        var component = new ScriptedComponent((_, _, _) => throw new InvalidOperationException("socket is gone"));
        using var supervisor = Supervisors.Of(Specs.Of("a", "x", component), time);
        supervisor.Start();
        await Wait.ForStateAsync(supervisor, ComponentState.Backoff, 1);
        Assert.Equal("crashed: InvalidOperationException (details in the debug log); retrying in 1s", supervisor.State.Reason);
        await supervisor.StopAsync("test over", TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task A_component_that_returns_is_restarted_with_a_reason()
    {
        var time = Clocks.Fake();
        var component = new ScriptedComponent((_, _, _) => Task.CompletedTask);
        using var supervisor = Supervisors.Of(Specs.Of("a", "x", component), time);
        supervisor.Start();
        await Wait.ForStateAsync(supervisor, ComponentState.Backoff, 1);
        Assert.StartsWith("stopped unexpectedly; retrying in", supervisor.State.Reason, StringComparison.Ordinal);
        await supervisor.StopAsync("test over", TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task Reports_carry_reasons_and_since_changes_only_with_the_state()
    {
        var time = Clocks.Fake();
        var step = new SemaphoreSlim(0);
        var component = new ScriptedComponent(async (ctx, _, ct) =>
        {
            ctx.ReportRunning("answering");
            await step.WaitAsync(ct);
            ctx.ReportDegraded("1/3 probes failed: timed out");
            await step.WaitAsync(ct);
            ctx.ReportDegraded("2/3 probes failed: timed out");
            await step.WaitAsync(ct);
            ctx.ReportFailed("3/3 probes failed: timed out");
            await Task.Delay(Timeout.Infinite, ct);
        });
        using var supervisor = Supervisors.Of(Specs.Of("a", "x", component), time);
        supervisor.Start();
        await Wait.UntilAsync(() => supervisor.State.State == ComponentState.Running, "running");
        time.Advance(TimeSpan.FromSeconds(5));
        step.Release();
        await Wait.UntilAsync(() => supervisor.State.State == ComponentState.Degraded, "degraded");
        var degradedSince = supervisor.State.Since;
        Assert.Equal(time.GetUtcNow(), degradedSince);
        time.Advance(TimeSpan.FromSeconds(5));
        step.Release();
        await Wait.UntilAsync(() => supervisor.State.Reason.StartsWith("2/3", StringComparison.Ordinal), "second failure");
        Assert.Equal(degradedSince, supervisor.State.Since);
        step.Release();
        await Wait.UntilAsync(() => supervisor.State.State == ComponentState.Failed, "failed");
        Assert.Equal("3/3 probes failed: timed out", supervisor.State.Reason);
        Assert.Equal(1, supervisor.Starts);
        await supervisor.StopAsync("test over", TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task Stop_cancels_the_attempt_and_records_who_stopped_it()
    {
        var time = Clocks.Fake();
        var component = ScriptedComponent.StaysUp();
        using var supervisor = Supervisors.Of(Specs.Of("a", "x", component), time);
        supervisor.Start();
        await Wait.ForStateAsync(supervisor, ComponentState.Running, 1);
        var connection = component.Connection!;
        await supervisor.StopAsync("daemon stopping", TimeSpan.FromSeconds(5));
        Assert.Equal(ComponentState.Stopped, supervisor.State.State);
        Assert.Equal("daemon stopping", supervisor.State.Reason);
        Assert.False(connection.Open);
    }

    [Fact]
    public async Task Stop_during_backoff_does_not_wait_for_the_retry()
    {
        var time = Clocks.Fake();
        using var supervisor = Supervisors.Of(Specs.Of("a", "x", ScriptedComponent.AlwaysFails("refused")), time);
        supervisor.Start();
        await Wait.ForStateAsync(supervisor, ComponentState.Backoff, 1);
        await supervisor.StopAsync("removed from config", TimeSpan.FromSeconds(5)).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(ComponentState.Stopped, supervisor.State.State);
        Assert.Equal(1, supervisor.Starts);
    }

    [Fact]
    public async Task A_component_that_ignores_cancellation_is_abandoned_after_the_stop_timeout()
    {
        var time = Clocks.Fake();
        var never = new TaskCompletionSource();
        var component = new ScriptedComponent(async (ctx, _, _) =>
        {
            ctx.ReportRunning("up");
            await never.Task; // ignores the token, like a hung native call
        });
        using var supervisor = Supervisors.Of(Specs.Of("a", "x", component), time);
        supervisor.Start();
        await Wait.ForStateAsync(supervisor, ComponentState.Running, 1);

        var stop = supervisor.StopAsync("daemon stopping", TimeSpan.FromSeconds(10));
        await Wait.UntilAsync(() => supervisor.State.State == ComponentState.Stopping, "stopping");
        Assert.False(stop.IsCompleted);
        time.Advance(TimeSpan.FromSeconds(10));
        await stop.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(ComponentState.Stopped, supervisor.State.State);
        Assert.Equal("daemon stopping (did not stop within 10s; abandoned)", supervisor.State.Reason);
        never.SetResult();
    }

    [Fact]
    public async Task Reports_from_an_attempt_that_has_ended_are_ignored()
    {
        var time = Clocks.Fake();
        IComponentContext? first = null;
        var component = new ScriptedComponent(async (ctx, attempt, ct) =>
        {
            if (attempt == 1)
            {
                first = ctx;
                throw new ComponentFailureException("reset");
            }
            ctx.ReportDegraded("second attempt");
            await Task.Delay(Timeout.Infinite, ct);
        });
        using var supervisor = Supervisors.Of(Specs.Of("a", "x", component), time);
        supervisor.Start();
        await Wait.ForStateAsync(supervisor, ComponentState.Backoff, 1);
        first!.ReportRunning("stale");
        Assert.Equal(ComponentState.Backoff, supervisor.State.State);
        time.Advance(TimeSpan.FromSeconds(1));
        await Wait.ForStateAsync(supervisor, ComponentState.Degraded, 2);
        first.ReportRunning("stale");
        first.SetDetail("k", "stale");
        Assert.Equal(ComponentState.Degraded, supervisor.State.State);
        Assert.False(supervisor.Details.ContainsKey("k"));
        await supervisor.StopAsync("test over", TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task Every_transition_is_announced_with_the_previous_and_the_new_state()
    {
        var time = Clocks.Fake();
        using var supervisor = Supervisors.Of(Specs.Of("a", "x", ScriptedComponent.StaysUp()), time);
        var seen = new List<(ComponentState From, ComponentState To)>();
        supervisor.StateChanged += (_, from, to) => { lock (seen) { seen.Add((from.State, to.State)); } };
        supervisor.Start();
        await Wait.ForStateAsync(supervisor, ComponentState.Running, 1);
        await supervisor.StopAsync("bye", TimeSpan.FromSeconds(5));
        lock (seen)
        {
            Assert.Equal(
                [(ComponentState.Stopped, ComponentState.Starting), (ComponentState.Starting, ComponentState.Running),
                 (ComponentState.Running, ComponentState.Stopping), (ComponentState.Stopping, ComponentState.Stopped)],
                seen);
        }
    }

    [Fact]
    public async Task A_stop_made_while_the_running_report_is_still_being_announced_is_announced_after_it()
    {
        var time = Clocks.Fake();
        using var supervisor = Supervisors.Of(Specs.Of("a", "x", ScriptedComponent.StaysUp()), time);
        var seen = new List<ComponentState>();
        using var inRunningHandler = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        supervisor.StateChanged += (_, _, to) =>
        {
            if (to.State == ComponentState.Running)
            {
                inRunningHandler.Set(); // the state is written; its announcement is held here
                release.Wait(TimeSpan.FromSeconds(10));
            }
            lock (seen) { seen.Add(to.State); }
        };
        supervisor.Start();
        Assert.True(inRunningHandler.Wait(TimeSpan.FromSeconds(10)), "the component never reported running");

        var stop = Task.Run(() => supervisor.StopAsync("bye", TimeSpan.FromSeconds(5)));
        // Without ordering, Stopping (and Stopped) are announced here, before Running: a D-Bus client's last signal
        // would say Running for a stopped component. With it, the stop waits for the announcement in progress.
        await Task.Delay(300);
        lock (seen)
        {
            Assert.DoesNotContain(ComponentState.Stopping, seen);
        }
        release.Set();
        await stop.WaitAsync(TimeSpan.FromSeconds(10));

        lock (seen)
        {
            Assert.Equal([ComponentState.Starting, ComponentState.Running, ComponentState.Stopping, ComponentState.Stopped], seen);
        }
    }
}
