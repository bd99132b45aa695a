using Bastion.Config;
using Bastion.Ssh;

namespace Bastion.Tests.Ssh;

public sealed class SessionHealthTests
{
    [Fact]
    public void One_unanswered_probe_below_the_limit_makes_the_session_suspect_and_an_answer_makes_it_up_again()
    {
        var health = new SessionHealth();
        Assert.True(health.Connected());
        Assert.Equal(SshSessionState.Suspect, health.Record(ProbeOutcome.NoAnswer, limit: 2));
        Assert.Equal(1, health.ConsecutiveFailures);
        Assert.Equal(SshSessionState.Up, health.Record(ProbeOutcome.Answered, limit: 2));
        Assert.Equal(0, health.ConsecutiveFailures);
    }

    [Fact]
    public void That_many_unanswered_probes_in_a_row_are_death_and_death_is_final()
    {
        var health = new SessionHealth();
        health.Connected();
        Assert.Equal(SshSessionState.Suspect, health.Record(ProbeOutcome.NoAnswer, limit: 3));
        Assert.Equal(SshSessionState.Suspect, health.Record(ProbeOutcome.NoAnswer, limit: 3));
        Assert.Equal(SshSessionState.Dead, health.Record(ProbeOutcome.NoAnswer, limit: 3));
        Assert.Equal(SshSessionState.Dead, health.Record(ProbeOutcome.Answered, limit: 3));
        Assert.False(health.End(SshSessionState.Closed));
        Assert.False(health.Connected());
    }

    [Fact]
    public void A_stricter_limit_applies_from_the_next_probe_and_a_lost_connection_is_death_at_once()
    {
        var health = new SessionHealth();
        health.Connected();
        Assert.Equal(SshSessionState.Suspect, health.Record(ProbeOutcome.NoAnswer, limit: 5));
        Assert.Equal(SshSessionState.Dead, health.Record(ProbeOutcome.NoAnswer, limit: 2)); // a stricter tunnel joined

        var other = new SessionHealth();
        other.Connected();
        Assert.Equal(SshSessionState.Dead, other.Record(ProbeOutcome.ConnectionGone, limit: 5));
    }

    [Fact]
    public void A_session_closed_while_connecting_never_becomes_up_and_probes_do_not_revive_it()
    {
        var health = new SessionHealth();
        Assert.True(health.End(SshSessionState.Closed));
        Assert.False(health.Connected());
        Assert.Equal(SshSessionState.Closed, health.Record(ProbeOutcome.Answered, limit: 2));
    }
}

public sealed class SshReconnectScheduleTests
{
    private static SshReconnectSchedule Schedule() => new(new BackoffConfig
    {
        Initial = TimeSpan.FromMilliseconds(250), Max = TimeSpan.FromSeconds(4), ResetAfter = TimeSpan.FromSeconds(60),
    }, random: () => 1.0);

    [Fact]
    public void A_session_that_was_up_and_died_is_replaced_at_once()
    {
        var schedule = Schedule();
        Assert.Equal(TimeSpan.Zero, schedule.NextDelay(SshFailureKind.NotAnswering, upFor: TimeSpan.FromMinutes(5)));
    }

    [Fact]
    public void Refused_connects_back_off_exponentially_up_to_the_ceiling()
    {
        var schedule = Schedule();
        var delays = Enumerable.Range(0, 7).Select(_ => schedule.NextDelay(SshFailureKind.Refused, upFor: null)).ToList();
        Assert.Equal([0.25, 0.5, 1, 2, 4, 4, 4], delays.Select(d => d.TotalSeconds));
    }

    [Fact]
    public void A_connect_that_timed_out_is_retried_at_once_because_its_timeout_paced_it()
    {
        var schedule = Schedule();
        schedule.NextDelay(SshFailureKind.Refused, upFor: null);
        schedule.NextDelay(SshFailureKind.Refused, upFor: null);
        Assert.Equal(TimeSpan.Zero, schedule.NextDelay(SshFailureKind.TimedOut, upFor: null));
    }

    [Fact]
    public void A_session_that_dies_right_after_every_connect_backs_off_and_one_that_stayed_up_resets_the_count()
    {
        var schedule = Schedule();
        Assert.Equal(TimeSpan.Zero, schedule.NextDelay(SshFailureKind.ConnectionLost, upFor: TimeSpan.FromSeconds(1)));
        Assert.Equal(TimeSpan.FromMilliseconds(250), schedule.NextDelay(SshFailureKind.ConnectionLost, upFor: TimeSpan.FromSeconds(1)));
        Assert.Equal(TimeSpan.FromMilliseconds(500), schedule.NextDelay(SshFailureKind.ConnectionLost, upFor: TimeSpan.FromSeconds(1)));
        Assert.Equal(TimeSpan.Zero, schedule.NextDelay(SshFailureKind.ConnectionLost, upFor: TimeSpan.FromMinutes(2)));
    }

    [Fact]
    public void Failures_only_a_human_can_fix_wait_their_hold_off()
    {
        var schedule = Schedule();
        Assert.Equal(TimeSpan.FromMinutes(5), schedule.NextDelay(SshFailureKind.HostKeyMismatch, upFor: null));
        Assert.Equal(TimeSpan.FromMinutes(1), schedule.NextDelay(SshFailureKind.AuthenticationRejected, upFor: null));
    }
}

public sealed class HostKeyAlgorithmTests
{
    private static readonly HashSet<string> None = [];

    [Fact]
    public void A_bare_fingerprint_pin_offers_every_plain_key_type_and_no_certificate()
    {
        var offered = SshAlgorithms.HostKeysFor([], hasCa: false, hasFingerprints: true, None);
        Assert.Equal(["ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "rsa-sha2-512", "rsa-sha2-256"], offered);
    }

    [Fact]
    public void A_refused_key_type_is_not_offered_again_and_for_rsa_both_signature_algorithms_go()
    {
        HashSet<string> refused = [.. SshAlgorithms.SameKey("ssh-ed25519"), .. SshAlgorithms.SameKey("rsa-sha2-512")];
        var offered = SshAlgorithms.HostKeysFor([], hasCa: false, hasFingerprints: true, refused);
        Assert.Equal(["ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521"], offered);
        refused.UnionWith(offered);
        Assert.Empty(SshAlgorithms.HostKeysFor([], false, true, refused));
    }

    [Fact]
    public void Known_hosts_entries_offer_only_their_key_types_and_a_ca_only_certificates()
    {
        Assert.Equal(["ecdsa-sha2-nistp256"], SshAlgorithms.HostKeysFor(["ecdsa-sha2-nistp256"], false, false, None));
        Assert.Equal(["rsa-sha2-512", "rsa-sha2-256"], SshAlgorithms.HostKeysFor(["ssh-rsa"], false, false, None));
        Assert.All(SshAlgorithms.HostKeysFor([], hasCa: true, hasFingerprints: false, None), a => Assert.EndsWith("-cert-v01@openssh.com", a, StringComparison.Ordinal));
    }

    [Fact]
    public void The_policy_offers_the_types_known_hosts_lists_for_this_host_and_port_only()
    {
        var ed = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
        var policy = new HostKeyPolicy(new HostKeyConfig { KnownHosts = "/k" },
            $"[gw.example.org]:2222 {ed}\nother.example.org ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBB4w4CzDZvIkYlCz8IpDxOaVfFnOV9sDMDpziFGyKB7aw4hwNIroUB2AYtOQmUNQB/5NGi94hcDfmoC/FQ7LPk4=\n");
        Assert.Equal(["ssh-ed25519"], policy.HostKeyAlgorithms("gw.example.org", 2222, None));
        Assert.Empty(policy.HostKeyAlgorithms("gw.example.org", 22, None));
    }

    [Fact]
    public void Only_a_key_that_is_merely_not_pinned_lets_another_key_type_be_tried()
    {
        var policy = new HostKeyPolicy(new HostKeyConfig { Fingerprints = ["SHA256:f+MBIWY78I2QFpPR3dFB27DxF/+3SHAxu+2DvHOv1M8"] }, null);
        var verdict = policy.Verify("gw", 22, new PresentedHostKey("ssh-ed25519", [1, 2, 3]), DateTimeOffset.UnixEpoch);
        Assert.False(verdict.Trusted);
        Assert.True(verdict.OtherKeyMayMatch);
    }
}
