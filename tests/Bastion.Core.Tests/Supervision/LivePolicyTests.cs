using Bastion.Supervision;
using Microsoft.Extensions.Logging.Abstractions;

namespace Bastion.Tests.Supervision;

/// <summary>A reload that changes only a component's policy updates the running instance instead of replacing it.</summary>
public sealed class LivePolicyTests
{
    private static Supervisor New(TimeProvider time) => new(time, NullLoggerFactory.Instance, () => 1.0);

    private static ComponentSpec Spec(string definition, string? policy, IComponent component) =>
        Specs.Of("x", definition, component) with { Policy = policy };

    /// <summary>Stays up; records every policy it is handed.</summary>
    private sealed class PolicyTaker : IComponent, ILivePolicy
    {
        private readonly ScriptedComponent _inner = ScriptedComponent.StaysUp();
        public List<object> Policies { get; } = [];
        public FakeConnection? Connection => _inner.Connection;
        public int Attempts => _inner.Attempts;
        public Task RunAsync(IComponentContext context, CancellationToken cancellationToken) => _inner.RunAsync(context, cancellationToken);

        public void UpdatePolicy(object policy)
        {
            lock (Policies)
            {
                Policies.Add(policy);
            }
        }
    }

    [Fact]
    public void Specs_that_differ_only_in_policy_are_planned_as_updated_and_any_other_difference_as_changed()
    {
        var component = ScriptedComponent.StaysUp();
        var current = new[] { Spec("1", "p1", component) };
        Assert.Equal(["check/x"], ReloadPlan.Diff(current, [Spec("1", "p2", component)]).Updated.Select(x => x.ToString()));
        Assert.Empty(ReloadPlan.Diff(current, [Spec("1", "p2", component)]).Changed);
        Assert.Equal(["check/x"], ReloadPlan.Diff(current, [Spec("2", "p2", component)]).Changed.Select(x => x.ToString()));
        Assert.Equal(["check/x"], ReloadPlan.Diff(current, [Spec("1", "p1", component)]).Unchanged.Select(x => x.ToString()));
        // A spec without a policy has everything in its definition: no live update for it.
        Assert.Equal(["check/x"], ReloadPlan.Diff([Spec("1", null, component)], [Spec("1", "p2", component)]).Changed.Select(x => x.ToString()));
        Assert.False(ReloadPlan.Diff(current, [Spec("1", "p2", component)]).IsEmpty);
    }

    [Fact]
    public async Task A_policy_only_reload_hands_the_running_component_its_new_policy_and_keeps_its_instance_and_connection()
    {
        var supervisor = New(Clocks.Fake());
        var taker = new PolicyTaker();
        await supervisor.ApplyAsync([Spec("1", "grace 5m", taker)]);
        await Wait.UntilAsync(() => supervisor.Components[0].State.State == ComponentState.Running, "running");
        var before = supervisor.Components[0];
        var connection = taker.Connection!;

        var plan = await supervisor.ApplyAsync([Spec("1", "grace 30s", new PolicyTaker())]);

        Assert.Equal(["check/x"], plan.Updated.Select(x => x.ToString()));
        Assert.Empty(plan.Changed);
        Assert.Same(before, supervisor.Components[0]);
        Assert.Same(taker, before.Component);
        Assert.Equal(["grace 30s"], taker.Policies);
        Assert.Equal(1, taker.Attempts);
        Assert.True(connection.Open);
        Assert.Equal("grace 30s", before.Spec.Policy); // a later restart builds from the new spec
        Assert.Equal(ComponentState.Running, before.State.State);
        await supervisor.StopAllAsync("test over", TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task A_component_that_cannot_take_a_policy_live_is_replaced_as_for_any_change()
    {
        var supervisor = New(Clocks.Fake());
        var plain = ScriptedComponent.StaysUp();
        await supervisor.ApplyAsync([Spec("1", "p1", plain)]);
        await Wait.UntilAsync(() => supervisor.Components[0].State.State == ComponentState.Running, "running");
        var before = supervisor.Components[0];

        var plan = await supervisor.ApplyAsync([Spec("1", "p2", ScriptedComponent.StaysUp())]);

        Assert.Equal(["check/x"], plan.Changed.Select(x => x.ToString()));
        Assert.Empty(plan.Updated);
        Assert.NotSame(before, supervisor.Components[0]);
        Assert.False(plain.Connection!.Open);
        await supervisor.StopAllAsync("test over", TimeSpan.FromSeconds(5));
    }
}
