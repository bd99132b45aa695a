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
    public void The_fleet_link_comes_last_under_its_own_name_and_a_dead_broker_is_named_only_when_nothing_else_is_wrong()
    {
        var line = StatusSummary.Build([
            C("fleet", "nats", ComponentState.Degraded, "broker 127.0.0.1:4222 unreachable: Connection refused"),
            C("check", "sshd", ComponentState.Running),
        ]);
        Assert.Equal("checks 1/1 up; fleet 0/1 up — fleet/nats: Degraded (broker 127.0.0.1:4222 unreachable: Connection refused)", line);
    }

    [Fact]
    public void A_refused_reload_is_said_first()
    {
        var line = StatusSummary.Build([C("check", "sshd", ComponentState.Running)], refusedReloadErrors: 2);
        Assert.Equal("reload refused (2 config errors; running the last good config); checks 1/1 up", line);
    }

    [Fact]
    public void A_standby_component_is_counted_as_standby_and_not_named_as_a_problem()
    {
        var line = StatusSummary.Build([
            C("check", "sshd", ComponentState.Running),
            C("tls", "vnc", ComponentState.Standby, "lowered: check/sshd is healthy"),
            C("vnc", "desktop", ComponentState.Standby, "lowered: check/sshd is healthy"),
        ]);
        Assert.Equal("checks 1/1 up; tls endpoints 0/1 up, 1 standby; vnc 0/1 up, 1 standby", line);
    }

    [Fact]
    public void A_problem_is_named_even_when_a_standby_component_comes_first()
    {
        var line = StatusSummary.Build([
            C("tls", "vnc", ComponentState.Standby, "lowered: check/sshd is healthy"),
            C("tls", "admin", ComponentState.Running),
            C("vnc", "desktop", ComponentState.Degraded, "raised: Xvnc exited with signal 9; restarting in 1s"),
        ]);
        Assert.Equal(
            "tls endpoints 1/2 up, 1 standby; vnc 0/1 up — vnc/desktop: Degraded (raised: Xvnc exited with signal 9; restarting in 1s)",
            line);
    }

    [Fact]
    public void A_raised_desktop_counts_as_up_and_standby_is_no_longer_mentioned()
    {
        var line = StatusSummary.Build([
            C("tls", "vnc", ComponentState.Running),
            C("vnc", "desktop", ComponentState.Running, "raised: check/sshd failed 3 probes in a row"),
        ]);
        Assert.Equal("tls endpoints 1/1 up; vnc 1/1 up", line);
    }
}
