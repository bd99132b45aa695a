using Bastion.Supervision;
using Microsoft.Extensions.Logging.Abstractions;

namespace Bastion.Tests.Supervision;

/// <summary>Supervisor.RestartAsync: a restart on request replaces one component's instance and leaves the others alone.</summary>
public sealed class SupervisorRestartTests
{
    private static Supervisor New(TimeProvider time) => new(time, NullLoggerFactory.Instance, () => 1.0);

    [Fact]
    public async Task A_restart_stops_the_instance_and_starts_a_new_one_in_the_same_place()
    {
        var supervisor = New(Clocks.Fake());
        var created = new List<ScriptedComponent>();
        var spec = new ComponentSpec(new("tunnel", "office"), "office-def", Specs.Backoff, () =>
        {
            var c = ScriptedComponent.StaysUp();
            created.Add(c);
            return c;
        });
        var other = ScriptedComponent.StaysUp();
        await supervisor.ApplyAsync([Specs.Of("sshd", "1", other), spec, Specs.Of("web", "1", ScriptedComponent.StaysUp())]);
        await Wait.UntilAsync(() => supervisor.Components.All(x => x.State.State == ComponentState.Running), "all running");
        var old = supervisor.Components[1];
        var oldConnection = created.Single().Connection!;
        var untouched = supervisor.Components[0];

        var fresh = await supervisor.RestartAsync(new("tunnel", "office"));

        Assert.NotNull(fresh);
        Assert.Same(fresh, supervisor.Components[1]);
        Assert.Equal(["sshd", "office", "web"], supervisor.Components.Select(x => x.Id.Name));
        Assert.NotEqual(old.Instance, fresh.Instance);
        Assert.Equal(ComponentState.Stopped, old.State.State);
        Assert.Equal("restarted on request", old.State.Reason);
        Assert.False(oldConnection.Open);
        await Wait.UntilAsync(() => fresh.State.State == ComponentState.Running, "new instance running");
        Assert.Equal(2, created.Count); // a new component object: nothing of the old attempt carried over
        Assert.NotSame(created[0], fresh.Component);
        Assert.Equal(1, fresh.Starts);
        Assert.Same(untouched, supervisor.Components[0]);
        Assert.Equal(1, other.Attempts);
        Assert.True(other.Connection!.Open);

        await supervisor.StopAllAsync("test over", TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task A_restart_of_an_unknown_component_returns_null_and_changes_nothing()
    {
        var supervisor = New(Clocks.Fake());
        await supervisor.ApplyAsync([Specs.Of("a", "1", ScriptedComponent.StaysUp())]);
        var before = supervisor.Components;

        Assert.Null(await supervisor.RestartAsync(new("check", "nope")));
        Assert.Null(await supervisor.RestartAsync(new("tunnel", "a"))); // same name, other kind

        Assert.Same(before, supervisor.Components);
        await supervisor.StopAllAsync("test over", TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task A_restarted_component_reports_its_transitions_through_the_supervisor_and_the_old_one_no_more()
    {
        var supervisor = New(Clocks.Fake());
        await supervisor.ApplyAsync([Specs.Of("a", "1", ScriptedComponent.StaysUp())]);
        await Wait.UntilAsync(() => supervisor.Components[0].State.State == ComponentState.Running, "running");
        var seen = new List<(string Instance, ComponentState State, string Reason)>();
        supervisor.StateChanged += (c, _, now) => { lock (seen) { seen.Add((c.Instance, now.State, now.Reason)); } };
        var old = supervisor.Components[0];

        var fresh = (await supervisor.RestartAsync(new("check", "a"), "restarted by the test"))!;
        // The state is set before the event is raised (outside the lock), so wait for the event, not the state.
        await Wait.UntilAsync(() =>
        {
            lock (seen)
            {
                return seen.Exists(s => s.Instance == fresh.Instance && s.State == ComponentState.Running);
            }
        }, "new instance reported running");

        lock (seen)
        {
            Assert.Contains((old.Instance, ComponentState.Stopping, "restarted by the test"), seen);
            Assert.Contains((old.Instance, ComponentState.Stopped, "restarted by the test"), seen);
            Assert.Contains(seen, s => s.Instance == fresh.Instance && s.State == ComponentState.Running);
            var lastOfOld = seen.FindLastIndex(s => s.Instance == old.Instance);
            var firstOfNew = seen.FindIndex(s => s.Instance == fresh.Instance);
            Assert.True(lastOfOld < firstOfNew, "the old instance reported after the new one started");
        }
        await supervisor.StopAllAsync("test over", TimeSpan.FromSeconds(5));
    }
}
