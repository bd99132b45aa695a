using Bastion.Config;
using Bastion.Vnc;
using Microsoft.Extensions.Time.Testing;

namespace Bastion.Tests.Vnc;

/// <summary>When the emergency desktop is up: sshd probes, grace, clients and overrides on a fake clock.</summary>
public sealed class VncFallbackPolicyTests
{
    private const string Refused = "connection refused by 127.0.0.1:22";
    private const string Banner = "SSH-2.0-OpenSSH_9.2p1";
    private static readonly TimeSpan Probe = TimeSpan.FromSeconds(5);

    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 23, 12, 0, 0, TimeSpan.Zero));
    private readonly VncFallbackPolicy _policy = new(VncMode.Fallback, "sshd", failures: 3, grace: TimeSpan.FromMinutes(5));

    private DateTimeOffset Now => _time.GetUtcNow();

    private void Fail(int times = 1)
    {
        for (var i = 0; i < times; i++)
        {
            _policy.ProbeFailed(Now, Refused);
            _time.Advance(Probe);
        }
    }

    private void Succeed(int times = 1)
    {
        for (var i = 0; i < times; i++)
        {
            _policy.ProbeSucceeded(Now, Banner);
            _time.Advance(Probe);
        }
    }

    /// <summary>Three failures at 12:00:00, :05, :10 (the clock ends at 12:00:15): raised.</summary>
    private void RaiseByFailures()
    {
        Fail(3);
        Assert.True(_policy.Decide(Now, raised: false, clients: 0).Raised);
    }

    [Fact]
    public void Before_the_first_probe_the_desktop_is_lowered_and_the_reason_says_what_it_waits_for()
    {
        Assert.Equal(Words(false, "lowered: waiting for the first probe of check/sshd", null), Words(_policy.Decide(Now, false, 0)));
        Assert.Null(_policy.HealthySince);
        Assert.Equal(0, _policy.ConsecutiveFailures);
    }

    [Fact]
    public void A_healthy_sshd_keeps_it_lowered()
    {
        Succeed(3);
        Assert.Equal(Words(false, "lowered: check/sshd healthy since 2026-11-23T12:00:00Z; raising after 3 failed probes in a row", null), Words(_policy.Decide(Now, false, 0)));
        Assert.Equal(new DateTimeOffset(2026, 11, 23, 12, 0, 0, TimeSpan.Zero), _policy.HealthySince);
    }

    [Fact]
    public void Fewer_failures_in_a_row_than_configured_do_not_raise_it()
    {
        Succeed();
        Fail(2);
        Assert.Equal(2, _policy.ConsecutiveFailures);
        Assert.Null(_policy.HealthySince);
        Assert.Equal(
            Words(false, $"lowered: check/sshd failed the last 2 probes ({Refused}); raising after 3 in a row", null),
            Words(_policy.Decide(Now, false, 0)));
        _policy.ProbeSucceeded(Now, Banner);
        _policy.ProbeFailed(Now, Refused);
        Assert.Equal($"lowered: check/sshd failed the last probe ({Refused}); raising after 3 in a row", _policy.Decide(Now, false, 0).Reason);
    }

    [Fact]
    public void The_configured_number_of_failures_in_a_row_raises_it_with_the_check_the_time_and_the_last_probe()
    {
        Fail(3);
        Assert.Equal(
            Words(true, $"raised: check/sshd failed 3 probes in a row since 2026-11-23T12:00:00Z ({Refused})", null),
            Words(_policy.Decide(Now, false, 0)));
    }

    [Fact]
    public void The_reason_stays_the_same_while_sshd_keeps_failing_the_same_way()
    {
        RaiseByFailures();
        var first = _policy.Decide(Now, true, 0);
        Fail(20);
        Assert.Equal(first, _policy.Decide(Now, true, 0));
        Assert.Equal(23, _policy.ConsecutiveFailures);

        _policy.ProbeFailed(Now, "timed out after 3s reading the banner of 127.0.0.1:22");
        Assert.Equal("raised: check/sshd failed 3 probes in a row since 2026-11-23T12:00:00Z (timed out after 3s reading the banner of 127.0.0.1:22)",
            _policy.Decide(Now, true, 0).Reason);
    }

    [Fact]
    public void One_success_resets_the_failure_count()
    {
        Fail(2);
        Succeed();
        Assert.Equal(0, _policy.ConsecutiveFailures);
        Fail(2);
        Assert.False(_policy.Decide(Now, false, 0).Raised);
        Fail();
        Assert.True(_policy.Decide(Now, false, 0).Raised);
    }

    [Fact]
    public void Healthy_for_less_than_the_grace_period_it_stays_raised_and_says_when_it_lowers()
    {
        RaiseByFailures();
        var healthy = Now; // 12:00:15
        Succeed();
        var expected = Words(true, "raised: check/sshd healthy since 2026-11-23T12:00:15Z; lowering at 2026-11-23T12:05:15Z", healthy + TimeSpan.FromMinutes(5));
        Assert.Equal(expected, Words(_policy.Decide(Now, true, 0)));

        Succeed(57); // probes up to 12:05:00; the clock at 12:05:05, still inside the grace
        _time.Advance(TimeSpan.FromSeconds(9)); // 12:05:14
        Assert.Equal(expected, Words(_policy.Decide(Now, true, 0))); // the same reason: no countdown in it
        Assert.Equal(healthy, _policy.HealthySince);
    }

    [Fact]
    public void Healthy_for_the_grace_period_it_is_lowered()
    {
        RaiseByFailures();
        Succeed();
        _time.Advance(TimeSpan.FromMinutes(5) - Probe); // exactly 12:05:15
        Assert.Equal(
            Words(false, "lowered: check/sshd healthy since 2026-11-23T12:00:15Z; raising after 3 failed probes in a row", null),
            Words(_policy.Decide(Now, true, 0)));
        _time.Advance(Probe);
        _policy.ProbeSucceeded(Now, Banner);
        Assert.Equal("lowered: check/sshd healthy since 2026-11-23T12:00:15Z; raising after 3 failed probes in a row", _policy.Decide(Now, false, 0).Reason); // unchanged once lowered
    }

    [Fact]
    public void A_connected_client_keeps_it_raised_after_the_grace_period_until_it_leaves()
    {
        RaiseByFailures();
        Succeed();
        _time.Advance(TimeSpan.FromMinutes(30));
        Assert.Equal(
            Words(true, "raised: check/sshd healthy since 2026-11-23T12:00:15Z; lowering once 1 client has disconnected", null),
            Words(_policy.Decide(Now, true, 1)));
        Assert.Equal("raised: check/sshd healthy since 2026-11-23T12:00:15Z; lowering once 2 clients have disconnected", _policy.Decide(Now, true, 2).Reason);

        Assert.False(_policy.Decide(Now, true, 0).Raised);
    }

    [Fact]
    public void A_single_good_probe_between_failures_does_not_lower_it_and_the_grace_starts_again()
    {
        RaiseByFailures();
        Succeed();
        Fail();
        Assert.Equal(
            Words(true, $"raised: check/sshd is failing ({Refused}); lowering once it has answered every probe for 5m", null),
            Words(_policy.Decide(Now, true, 0)));

        var healthy = Now;
        Succeed();
        Assert.Equal(healthy + TimeSpan.FromMinutes(5), _policy.Decide(Now, true, 0).ReviewAt);
    }

    [Fact]
    public void After_it_was_lowered_a_single_failure_does_not_raise_it_again()
    {
        RaiseByFailures();
        Succeed();
        _time.Advance(TimeSpan.FromMinutes(5));
        Assert.False(_policy.Decide(Now, true, 0).Raised);

        Fail();
        Assert.False(_policy.Decide(Now, false, 0).Raised);
        Fail(2);
        Assert.True(_policy.Decide(Now, false, 0).Raised);
    }

    [Fact]
    public void A_failure_after_a_full_grace_period_starts_a_new_count_even_when_nobody_asked_in_between()
    {
        RaiseByFailures();
        Succeed();
        _time.Advance(TimeSpan.FromMinutes(6)); // the decision at the grace end was never asked for
        Fail();
        Assert.False(_policy.Decide(Now, false, 0).Raised);
    }

    [Fact]
    public void A_start_override_raises_it_while_sshd_is_healthy_until_it_expires_exactly_at_its_end()
    {
        Succeed();
        var until = Now + TimeSpan.FromMinutes(30); // 12:30:05
        _policy.SetOverride(new VncOverride(VncOverrideAction.Start, until, false, Now));
        Assert.Equal(Words(true, "raised: started by an admin at 2026-11-23T12:00:05Z until 2026-11-23T12:30:05Z", until), Words(_policy.Decide(Now, false, 0)));

        _time.Advance(TimeSpan.FromMinutes(30) - TimeSpan.FromSeconds(1));
        Assert.True(_policy.Decide(Now, true, 0).Raised);
        Assert.NotNull(_policy.Override);

        _time.Advance(TimeSpan.FromSeconds(1)); // == until
        var decision = _policy.Decide(Now, true, 0);
        Assert.Null(_policy.Override);
        Assert.Equal("lowered: check/sshd healthy since 2026-11-23T12:00:00Z; raising after 3 failed probes in a row", decision.Reason);
    }

    [Fact]
    public void When_a_start_override_expires_the_grace_counts_from_when_sshd_became_healthy()
    {
        Succeed(); // healthy since 12:00:00
        _policy.SetOverride(new VncOverride(VncOverrideAction.Start, Now + TimeSpan.FromMinutes(2), false, Now));
        _time.Advance(TimeSpan.FromMinutes(2));
        Assert.Equal(
            Words(true, "raised: check/sshd healthy since 2026-11-23T12:00:00Z; lowering at 2026-11-23T12:05:00Z", new DateTimeOffset(2026, 11, 23, 12, 5, 0, TimeSpan.Zero)),
            Words(_policy.Decide(Now, true, 0)));
    }

    [Fact]
    public void When_a_start_override_expires_while_sshd_is_failing_below_the_threshold_it_stays_up()
    {
        _policy.SetOverride(new VncOverride(VncOverrideAction.Start, Now + TimeSpan.FromMinutes(1), false, Now));
        Fail();
        _time.Advance(TimeSpan.FromMinutes(1));
        Assert.Equal(
            Words(true, $"raised: check/sshd is failing ({Refused}); lowering once it has answered every probe for 5m", null),
            Words(_policy.Decide(Now, true, 0)));
    }

    [Fact]
    public void When_a_start_override_expires_before_any_probe_it_stays_up_until_sshd_has_been_judged()
    {
        _policy.SetOverride(new VncOverride(VncOverrideAction.Start, Now + TimeSpan.FromMinutes(1), false, Now));
        _time.Advance(TimeSpan.FromMinutes(1));
        Assert.Equal(Words(true, "raised: waiting for the first probe of check/sshd", null), Words(_policy.Decide(Now, true, 0)));
    }

    [Fact]
    public void A_start_override_without_an_end_lasts_until_auto()
    {
        Succeed();
        _policy.SetOverride(new VncOverride(VncOverrideAction.Start, null, false, Now));
        _time.Advance(TimeSpan.FromDays(3));
        Assert.Equal(Words(true, "raised: started by an admin at 2026-11-23T12:00:05Z (until bastionctl vnc auto)", null), Words(_policy.Decide(Now, true, 0)));

        _policy.SetOverride(null);
        Assert.False(_policy.Decide(Now, true, 0).Raised);
    }

    [Fact]
    public void A_stop_override_lowers_it_while_sshd_is_down_once_no_client_is_connected()
    {
        RaiseByFailures();
        var since = Now;
        _policy.SetOverride(new VncOverride(VncOverrideAction.Stop, null, false, since));
        Assert.Equal(
            Words(true, "raised: stopped by an admin at 2026-11-23T12:00:15Z (until bastionctl vnc auto); lowering once 2 clients have disconnected", null),
            Words(_policy.Decide(Now, true, 2)));
        Assert.Equal(
            Words(false, "lowered: stopped by an admin at 2026-11-23T12:00:15Z (until bastionctl vnc auto)", null),
            Words(_policy.Decide(Now, true, 0)));
        Fail(10);
        Assert.False(_policy.Decide(Now, false, 0).Raised);
    }

    [Fact]
    public void A_forced_stop_override_lowers_it_even_with_clients_connected()
    {
        RaiseByFailures();
        _policy.SetOverride(new VncOverride(VncOverrideAction.Stop, Now + TimeSpan.FromMinutes(10), true, Now));
        Assert.Equal(
            Words(false, "lowered: stopped by an admin at 2026-11-23T12:00:15Z until 2026-11-23T12:10:15Z", new DateTimeOffset(2026, 11, 23, 12, 10, 15, TimeSpan.Zero)),
            Words(_policy.Decide(Now, true, 3)));
    }

    [Fact]
    public void When_a_stop_override_expires_with_sshd_still_down_it_is_raised()
    {
        _policy.SetOverride(new VncOverride(VncOverrideAction.Stop, Now + TimeSpan.FromMinutes(1), false, Now));
        Fail(3);
        Assert.False(_policy.Decide(Now, false, 0).Raised);
        _time.Advance(TimeSpan.FromMinutes(1));
        Assert.True(_policy.Decide(Now, false, 0).Raised);
        Assert.Null(_policy.Override);
    }

    [Fact]
    public void Auto_clears_the_override_and_the_probes_decide_again()
    {
        RaiseByFailures();
        _policy.SetOverride(new VncOverride(VncOverrideAction.Stop, null, true, Now));
        Assert.False(_policy.Decide(Now, true, 0).Raised);
        _policy.SetOverride(null);
        Assert.Null(_policy.Override);
        Assert.True(_policy.Decide(Now, false, 0).Raised);
    }

    [Fact]
    public void Mode_always_is_raised_without_any_probe_and_an_override_still_wins()
    {
        var always = new VncFallbackPolicy(VncMode.Always, null, 3, TimeSpan.FromMinutes(5));
        Assert.Equal(Words(true, "raised: vnc.mode is always", null), Words(always.Decide(Now, false, 0)));

        always.SetOverride(new VncOverride(VncOverrideAction.Stop, null, false, Now));
        Assert.False(always.Decide(Now, true, 0).Raised);
    }

    [Fact]
    public void Fallback_without_a_check_or_with_nonsense_numbers_is_refused()
    {
        Assert.Throws<ArgumentException>(() => new VncFallbackPolicy(VncMode.Fallback, null, 3, TimeSpan.FromMinutes(5)));
        Assert.Throws<ArgumentOutOfRangeException>(() => new VncFallbackPolicy(VncMode.Fallback, "sshd", 0, TimeSpan.FromMinutes(5)));
        Assert.Throws<ArgumentOutOfRangeException>(() => new VncFallbackPolicy(VncMode.Fallback, "sshd", 3, TimeSpan.FromSeconds(-1)));
    }

    [Fact]
    public void One_failure_raises_when_configured_so()
    {
        var eager = new VncFallbackPolicy(VncMode.Fallback, "sshd", 1, TimeSpan.Zero);
        eager.ProbeFailed(Now, Refused);
        Assert.Equal($"raised: check/sshd failed 1 probe in a row since 2026-11-23T12:00:00Z ({Refused})", eager.Decide(Now, false, 0).Reason);
        eager.ProbeSucceeded(Now, Banner);
        Assert.False(eager.Decide(Now, true, 0).Raised); // grace 0: lowered as soon as sshd answers
    }

    [Theory]
    [InlineData(VncOverrideAction.Start, 30, false, "start until 2026-11-23T12:30:00Z")]
    [InlineData(VncOverrideAction.Start, 0, false, "start")]
    [InlineData(VncOverrideAction.Stop, 0, true, "stop (forced)")]
    [InlineData(VncOverrideAction.Stop, 10, false, "stop until 2026-11-23T12:10:00Z")]
    public void An_override_describes_itself_for_status(VncOverrideAction action, int minutes, bool force, string text)
    {
        var o = new VncOverride(action, minutes == 0 ? null : Now + TimeSpan.FromMinutes(minutes), force, Now);
        Assert.Equal(text, o.Describe());
    }

    /// <summary>What a decision says (the words are made from its typed cause): compared as text, as status shows it.</summary>
    private static (bool Raised, string Reason, DateTimeOffset? ReviewAt) Words(bool raised, string reason, DateTimeOffset? reviewAt) => (raised, reason, reviewAt);

    private static (bool Raised, string Reason, DateTimeOffset? ReviewAt) Words(VncDecision decision) => (decision.Raised, decision.Reason, decision.ReviewAt);
}
