using Bastion.Supervision;
using Microsoft.Extensions.Logging.Abstractions;

namespace Bastion.Tests.Supervision;

public sealed class SupervisorTests
{
    private static Supervisor New(TimeProvider time) => new(time, NullLoggerFactory.Instance, () => 1.0);

    [Fact]
    public async Task A_reload_touches_only_added_removed_and_changed_components()
    {
        var time = Clocks.Fake();
        var supervisor = New(time);
        var a = ScriptedComponent.StaysUp();
        var b = ScriptedComponent.StaysUp();
        var c = ScriptedComponent.StaysUp();
        var plan = await supervisor.ApplyAsync([Specs.Of("a", "1", a), Specs.Of("b", "1", b), Specs.Of("c", "1", c)]);
        Assert.Equal(3, plan.Added.Count);
        await Wait.UntilAsync(() => supervisor.Components.All(x => x.State.State == ComponentState.Running), "all running");
        var before = supervisor.Components.ToDictionary(x => x.Id.Name);
        var aConnection = a.Connection!;
        var cConnection = c.Connection!;

        var b2 = ScriptedComponent.StaysUp();
        var d = ScriptedComponent.StaysUp();
        // "a" is declared again with an equal definition (a new record, a new factory): still unchanged.
        plan = await supervisor.ApplyAsync([Specs.Of("a", "1", ScriptedComponent.StaysUp()), Specs.Of("b", "2", b2), Specs.Of("d", "1", d)]);

        Assert.Equal(["check/d"], plan.Added.Select(x => x.ToString()));
        Assert.Equal(["check/c"], plan.Removed.Select(x => x.ToString()));
        Assert.Equal(["check/b"], plan.Changed.Select(x => x.ToString()));
        Assert.Equal(["check/a"], plan.Unchanged.Select(x => x.ToString()));

        var after = supervisor.Components.ToDictionary(x => x.Id.Name);
        Assert.Equal(["a", "b", "d"], supervisor.Components.Select(x => x.Id.Name));
        // Unchanged: same supervisor, same component object, never restarted, its connection still open.
        Assert.Same(before["a"], after["a"]);
        Assert.Same(a, after["a"].Component);
        Assert.Equal(1, after["a"].Starts);
        Assert.Equal(1, a.Attempts);
        Assert.True(aConnection.Open);
        Assert.Equal(ComponentState.Running, after["a"].State.State);
        // Changed: a new instance; the old one was stopped with a reason.
        Assert.NotSame(before["b"], after["b"]);
        Assert.NotEqual(before["b"].Instance, after["b"].Instance);
        Assert.Equal("changed in config; replaced", before["b"].State.Reason);
        // Removed: stopped, its connection closed.
        Assert.Equal(ComponentState.Stopped, before["c"].State.State);
        Assert.Equal("removed from config", before["c"].State.Reason);
        Assert.False(cConnection.Open);
        await Wait.UntilAsync(() => after["d"].State.State == ComponentState.Running && after["b"].State.State == ComponentState.Running, "b and d running");

        await supervisor.StopAllAsync("test over", TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task A_reload_with_an_identical_config_changes_nothing()
    {
        var supervisor = New(Clocks.Fake());
        await supervisor.ApplyAsync([Specs.Of("a", "1", ScriptedComponent.StaysUp())]);
        var first = supervisor.Components[0];
        var plan = await supervisor.ApplyAsync([Specs.Of("a", "1", ScriptedComponent.StaysUp())]);
        Assert.True(plan.IsEmpty);
        Assert.Same(first, supervisor.Components[0]);
        await supervisor.StopAllAsync("test over", TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task A_change_of_backoff_alone_is_a_change()
    {
        var supervisor = New(Clocks.Fake());
        await supervisor.ApplyAsync([Specs.Of("a", "1", ScriptedComponent.StaysUp())]);
        var plan = await supervisor.ApplyAsync([Specs.Of("a", "1", ScriptedComponent.StaysUp(), Specs.Backoff with { Max = TimeSpan.FromSeconds(9) })]);
        Assert.Single(plan.Changed);
        await supervisor.StopAllAsync("test over", TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task Stop_all_stops_components_in_reverse_declaration_order()
    {
        var supervisor = New(Clocks.Fake());
        var order = new List<string>();
        IComponent Recording(string name) => new ScriptedComponent(async (ctx, _, ct) =>
        {
            ctx.ReportRunning("up");
            try
            {
                await Task.Delay(Timeout.Infinite, ct);
            }
            finally
            {
                lock (order) { order.Add(name); }
            }
        });
        await supervisor.ApplyAsync([Specs.Of("first", "1", Recording("first")), Specs.Of("second", "1", Recording("second")), Specs.Of("third", "1", Recording("third"))]);
        await Wait.UntilAsync(() => supervisor.Components.All(x => x.State.State == ComponentState.Running), "all running");
        await supervisor.StopAllAsync("daemon stopping", TimeSpan.FromSeconds(5));
        Assert.Equal(["third", "second", "first"], order);
        Assert.All(supervisor.Components, x => Assert.Equal("daemon stopping", x.State.Reason));
    }

    [Fact]
    public async Task One_crashing_component_does_not_disturb_the_others()
    {
        var supervisor = New(Clocks.Fake());
        await supervisor.ApplyAsync([
            Specs.Of("bad", "1", new ScriptedComponent((_, _, _) => throw new InvalidOperationException("boom"))),
            Specs.Of("good", "1", ScriptedComponent.StaysUp())]);
        await Wait.UntilAsync(() => supervisor.Components[0].State.State == ComponentState.Backoff
            && supervisor.Components[1].State.State == ComponentState.Running, "bad backing off, good running");
        await supervisor.StopAllAsync("test over", TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task State_changes_of_every_component_reach_the_supervisor_event()
    {
        var supervisor = New(Clocks.Fake());
        var seen = new HashSet<string>();
        supervisor.StateChanged += (c, _, now) => { lock (seen) { seen.Add($"{c.Id.Name}:{now.State}"); } };
        await supervisor.ApplyAsync([Specs.Of("a", "1", ScriptedComponent.StaysUp()), Specs.Of("b", "1", ScriptedComponent.StaysUp())]);
        await Wait.UntilAsync(() => { lock (seen) { return seen.Contains("a:Running") && seen.Contains("b:Running"); } }, "both running announced");
        await supervisor.StopAllAsync("test over", TimeSpan.FromSeconds(5));
    }
}
