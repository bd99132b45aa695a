using Bastion.Supervision;
using Microsoft.Extensions.Logging.Abstractions;

namespace Bastion.Tests.Supervision;

/// <summary>Components that block, throw or report at the wrong time: supervision stays bounded and truthful.</summary>
public sealed class MisbehavingComponentTests
{
    [Fact]
    public async Task A_cancellation_callback_that_blocks_does_not_hold_up_the_stop_past_its_timeout()
    {
        var time = Clocks.Fake();
        using var release = new ManualResetEventSlim();
        var component = new ScriptedComponent(async (ctx, _, ct) =>
        {
            using var blocking = ct.Register(() => release.Wait()); // e.g. waiting for a child process to exit
            ctx.ReportRunning("up");
            await Task.Delay(Timeout.Infinite, ct);
        });
        using var supervisor = Supervisors.Of(Specs.Of("a", "x", component), time);
        supervisor.Start();
        await Wait.ForStateAsync(supervisor, ComponentState.Running, 1);

        var stop = supervisor.StopAsync("daemon stopping", TimeSpan.FromSeconds(10));
        await Wait.UntilAsync(() => supervisor.State.State == ComponentState.Stopping, "stopping");
        time.Advance(TimeSpan.FromSeconds(10));
        await stop.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal("daemon stopping (did not stop within 10s; abandoned)", supervisor.State.Reason);
        release.Set();
    }

    [Fact]
    public async Task A_cancellation_callback_that_throws_does_not_break_the_stop()
    {
        var time = Clocks.Fake();
        var component = new ScriptedComponent(async (ctx, _, ct) =>
        {
            using var throwing = ct.Register(() => throw new InvalidOperationException("process already exited"));
            ctx.ReportRunning("up");
            await Task.Delay(Timeout.Infinite, ct);
        });
        using var supervisor = Supervisors.Of(Specs.Of("a", "x", component), time);
        supervisor.Start();
        await Wait.ForStateAsync(supervisor, ComponentState.Running, 1);
        await supervisor.StopAsync("daemon stopping", TimeSpan.FromSeconds(10)).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal((ComponentState.Stopped, "daemon stopping"), (supervisor.State.State, supervisor.State.Reason));
    }

    [Fact]
    public async Task A_factory_that_throws_is_a_failed_attempt_that_is_retried_not_a_failed_reload()
    {
        var time = Clocks.Fake();
        var calls = 0;
        var spec = new ComponentSpec(new ComponentId("check", "a"), new TestDefinition("x"), Specs.Backoff, () =>
            Interlocked.Increment(ref calls) == 1 ? throw new IOException("key file vanished") : ScriptedComponent.StaysUp());
        var supervisor = new Supervisor(time, NullLoggerFactory.Instance, () => 1.0);

        await supervisor.ApplyAsync([spec]).WaitAsync(TimeSpan.FromSeconds(10));
        var component = supervisor.Components.Single();
        await Wait.ForStateAsync(component, ComponentState.Backoff, 1);
        Assert.Equal("crashed: IOException (details in the debug log); retrying in 1s", component.State.Reason);
        time.Advance(TimeSpan.FromSeconds(1));
        await Wait.ForStateAsync(component, ComponentState.Running, 2);
        await supervisor.StopAllAsync("test over", TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task A_report_that_arrives_while_stopping_cannot_overwrite_the_stop()
    {
        var time = Clocks.Fake();
        IComponentContext? context = null;
        var never = new TaskCompletionSource();
        var component = new ScriptedComponent(async (ctx, _, _) =>
        {
            context = ctx;
            ctx.ReportRunning("up");
            await never.Task; // ignores the token, keeps a keepalive thread that reports
        });
        using var supervisor = Supervisors.Of(Specs.Of("a", "x", component), time);
        supervisor.Start();
        await Wait.ForStateAsync(supervisor, ComponentState.Running, 1);

        var stop = supervisor.StopAsync("removed from config", TimeSpan.FromSeconds(10));
        await Wait.UntilAsync(() => supervisor.State.State == ComponentState.Stopping, "stopping");
        context!.ReportRunning("keepalive answered");
        context.SetDetail("late", "yes");
        Assert.Equal(ComponentState.Stopping, supervisor.State.State);
        time.Advance(TimeSpan.FromSeconds(10));
        await stop.WaitAsync(TimeSpan.FromSeconds(10));
        context.ReportRunning("keepalive answered again");
        Assert.Equal(ComponentState.Stopped, supervisor.State.State);
        Assert.False(supervisor.Details.ContainsKey("late"));
        never.SetResult();
    }

    [Fact]
    public async Task A_subscriber_that_throws_does_not_stop_supervision()
    {
        var time = Clocks.Fake();
        using var supervisor = Supervisors.Of(Specs.Of("a", "x", ScriptedComponent.StaysUp()), time);
        supervisor.StateChanged += (_, _, _) => throw new InvalidOperationException("subscriber bug");
        supervisor.Start();
        await Wait.ForStateAsync(supervisor, ComponentState.Running, 1);
        await supervisor.StopAsync("test over", TimeSpan.FromSeconds(5));
        Assert.Equal(ComponentState.Stopped, supervisor.State.State);
    }

    [Fact]
    public async Task Starting_is_the_state_as_soon_as_start_returns()
    {
        var time = Clocks.Fake();
        using var supervisor = Supervisors.Of(Specs.Of("a", "x", ScriptedComponent.StaysUp()), time);
        supervisor.Start();
        Assert.NotEqual(ComponentState.Stopped, supervisor.State.State); // READY's STATUS= never says "not started"
        await supervisor.StopAsync("test over", TimeSpan.FromSeconds(5)).WaitAsync(TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task A_reload_stops_what_it_replaces_together_within_one_stop_timeout()
    {
        var time = Clocks.Fake();
        var supervisor = new Supervisor(time, NullLoggerFactory.Instance, () => 1.0) { StopTimeout = TimeSpan.FromSeconds(10) };
        var never = new TaskCompletionSource();
        IComponent Hanging() => new ScriptedComponent(async (ctx, _, _) => { ctx.ReportRunning("up"); await never.Task; });
        await supervisor.ApplyAsync([Specs.Of("a", "1", Hanging()), Specs.Of("b", "1", Hanging())]);
        await Wait.UntilAsync(() => supervisor.Components.All(c => c.State.State == ComponentState.Running), "both running");

        var apply = supervisor.ApplyAsync([Specs.Of("a", "2", ScriptedComponent.StaysUp()), Specs.Of("b", "2", ScriptedComponent.StaysUp())]);
        await Wait.UntilAsync(() => supervisor.Components.All(c => c.State.State == ComponentState.Stopping), "both stopping");
        time.Advance(TimeSpan.FromSeconds(10)); // one timeout for both, not one each
        await apply.WaitAsync(TimeSpan.FromSeconds(10));
        await Wait.UntilAsync(() => supervisor.Components.All(c => c.State.State == ComponentState.Running), "replacements running");
        never.SetResult();
        await supervisor.StopAllAsync("test over", TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task When_one_component_uses_up_the_stop_budget_the_rest_still_get_a_grace_together()
    {
        var time = Clocks.Fake();
        var supervisor = new Supervisor(time, NullLoggerFactory.Instance, () => 1.0);
        var never = new TaskCompletionSource();
        var hanging = new ScriptedComponent(async (ctx, _, _) => { ctx.ReportRunning("up"); await never.Task; });
        await supervisor.ApplyAsync([Specs.Of("a", "1", ScriptedComponent.StaysUp()), Specs.Of("b", "1", ScriptedComponent.StaysUp()), Specs.Of("last", "1", hanging)]);
        await Wait.UntilAsync(() => supervisor.Components.All(c => c.State.State == ComponentState.Running), "all running");

        var stop = supervisor.StopAllAsync("daemon stopping", TimeSpan.FromSeconds(10));
        await Wait.UntilAsync(() => supervisor.Components[2].State.State == ComponentState.Stopping, "last stopping first");
        time.Advance(TimeSpan.FromSeconds(10));
        await stop.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal("daemon stopping (did not stop within 10s; abandoned)", supervisor.Components[2].State.Reason);
        // a and b honoured cancellation within their grace: stopped cleanly, not "abandoned after 0s".
        Assert.All(supervisor.Components.Take(2), c => Assert.Equal((ComponentState.Stopped, "daemon stopping"), (c.State.State, c.State.Reason)));
        never.SetResult();
    }
}
