using Bastion.Status;
using Bastion.Supervision;

namespace Bastion.Tests.Status;

public sealed class StatusSummaryTests
{
    private static readonly DateTimeOffset T = new(2026, 11, 23, 0, 0, 0, TimeSpan.Zero);

    private static (ComponentId, StateRecord) C(string kind, string name, ComponentState state, string reason = "r") =>
        (new ComponentId(kind, name), new StateRecord(state, reason, T));

    [Fact]
    public void An_empty_daemon_says_it_has_nothing_to_supervise()
    {
        Assert.Equal("nothing to supervise", StatusSummary.Build(Array.Empty<(ComponentId, StateRecord)>()));
    }

    [Fact]
    public void Kinds_are_counted_in_a_fixed_order_and_the_first_problem_is_named_with_its_reason()
    {
        var line = StatusSummary.Build([
            C("tunnel", "db", ComponentState.Backoff, "authentication rejected; retrying in 8s"),
            C("tunnel", "web", ComponentState.Running),
            C("check", "sshd", ComponentState.Running),
        ]);
        Assert.Equal("checks 1/1 up; tunnels 1/2 up — tunnel/db: Backoff (authentication rejected; retrying in 8s)", line);
    }

    [Fact]
    public void A_refused_reload_is_said_first()
    {
        var line = StatusSummary.Build([C("check", "sshd", ComponentState.Running)], refusedReloadErrors: 2);
        Assert.Equal("reload refused (2 config errors; running the last good config); checks 1/1 up", line);
    }
}
