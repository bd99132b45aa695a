using Bastion.Config;
using Bastion.Vnc;
using Microsoft.Extensions.Time.Testing;

namespace Bastion.Tests.Vnc;

/// <summary>A reload that changes vnc.mode or vnc.fallback.* reconfigures the live policy: what happened so far is kept.</summary>
public sealed class VncPolicyReconfigureTests
{
    private static readonly TimeSpan Probe = TimeSpan.FromSeconds(5);
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 23, 12, 0, 0, TimeSpan.Zero));
    private readonly VncFallbackPolicy _policy = new(new VncPolicySettings(VncMode.Fallback, "sshd", 2, TimeSpan.FromMinutes(5)));

    private DateTimeOffset Now => _time.GetUtcNow();

    private void Probes(bool ok, int times)
    {
        for (var i = 0; i < times; i++)
        {
            if (ok)
            {
                _policy.ProbeSucceeded(Now, "SSH-2.0-OpenSSH_9.2p1");
            }
            else
            {
                _policy.ProbeFailed(Now, "connection refused");
            }
            _time.Advance(Probe);
        }
    }

    [Fact]
    public void A_shorter_grace_counts_from_the_same_healthy_since_and_a_connected_client_still_holds_the_desktop()
    {
        Probes(ok: false, 2);
        Assert.True(_policy.Decide(Now, raised: false, clients: 0).Raised);
        Probes(ok: true, 3); // healthy for 15 s of a 5 min grace
        Assert.True(_policy.Decide(Now, raised: true, clients: 1).Raised);

        _policy.Reconfigure(new VncPolicySettings(VncMode.Fallback, "sshd", 2, TimeSpan.FromSeconds(10)));

        var held = _policy.Decide(Now, raised: true, clients: 1);
        Assert.True(held.Raised);
        Assert.Contains("lowering once 1 client has disconnected", held.Reason, StringComparison.Ordinal);
        Assert.False(_policy.Decide(Now, raised: true, clients: 0).Raised);
    }

    [Fact]
    public void An_admins_override_survives_a_change_of_grace_failures_and_mode()
    {
        _policy.SetOverride(new VncOverride(VncOverrideAction.Start, null, false, Now));
        _policy.Reconfigure(new VncPolicySettings(VncMode.Always, "sshd", 5, TimeSpan.FromMinutes(1)));
        _policy.Reconfigure(new VncPolicySettings(VncMode.Fallback, "sshd", 3, TimeSpan.FromMinutes(2)));
        Assert.Equal(VncOverrideAction.Start, _policy.Override?.Action);
        Assert.StartsWith("raised: started by an admin", _policy.Decide(Now, raised: true, clients: 0).Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Fewer_failures_raise_at_once_on_the_failures_already_seen_and_another_check_starts_from_no_probe()
    {
        Probes(ok: false, 1);
        Assert.False(_policy.Decide(Now, raised: false, clients: 0).Raised);
        _policy.Reconfigure(new VncPolicySettings(VncMode.Fallback, "sshd", 1, TimeSpan.FromMinutes(5)));
        Assert.True(_policy.Decide(Now, raised: false, clients: 0).Raised);

        _policy.Reconfigure(new VncPolicySettings(VncMode.Fallback, "sshd-other", 1, TimeSpan.FromMinutes(5)));
        Assert.Equal(0, _policy.ConsecutiveFailures);
        Assert.Null(_policy.LastProbeText);
        Assert.Contains("waiting for the first probe of check/sshd-other", _policy.Decide(Now, raised: true, clients: 0).Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Settings_that_cannot_work_are_refused_and_the_old_ones_kept()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => _policy.Reconfigure(new VncPolicySettings(VncMode.Fallback, "sshd", 0, TimeSpan.FromMinutes(5))));
        Assert.Throws<ArgumentException>(() => _policy.Reconfigure(new VncPolicySettings(VncMode.Fallback, null, 2, TimeSpan.FromMinutes(5))));
        Probes(ok: false, 2);
        Assert.True(_policy.Decide(Now, raised: false, clients: 0).Raised);
    }
}

/// <summary>A user logged in on the desktop holds it up like a connected client.</summary>
public sealed class VncLoggedInUserTests
{
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 23, 12, 0, 0, TimeSpan.Zero));
    private readonly VncFallbackPolicy _policy = new(new VncPolicySettings(VncMode.Fallback, "sshd", 1, TimeSpan.FromSeconds(30)));

    [Fact]
    public void Lowering_after_the_grace_waits_while_a_user_is_logged_in_and_the_reason_says_who()
    {
        _policy.ProbeFailed(_time.GetUtcNow(), "refused");
        _policy.ProbeSucceeded(_time.GetUtcNow(), "SSH-2.0-x");
        _time.Advance(TimeSpan.FromMinutes(1));
        var held = _policy.Decide(_time.GetUtcNow(), raised: true, clients: 0, loggedIn: "root");
        Assert.True(held.Raised);
        Assert.EndsWith("lowering once root has logged out of the desktop", held.Reason, StringComparison.Ordinal);
        Assert.EndsWith("lowering once 1 client has disconnected and root has logged out of the desktop",
            _policy.Decide(_time.GetUtcNow(), raised: true, clients: 1, loggedIn: "root").Reason, StringComparison.Ordinal);
        Assert.False(_policy.Decide(_time.GetUtcNow(), raised: true, clients: 0, loggedIn: null).Raised);
    }

    [Fact]
    public void An_admins_stop_waits_for_the_logged_in_user_unless_forced()
    {
        var now = _time.GetUtcNow();
        _policy.SetOverride(new VncOverride(VncOverrideAction.Stop, null, Force: false, now));
        Assert.True(_policy.Decide(now, raised: true, clients: 0, loggedIn: "alice").Raised);
        _policy.SetOverride(new VncOverride(VncOverrideAction.Stop, null, Force: true, now));
        Assert.False(_policy.Decide(now, raised: true, clients: 0, loggedIn: "alice").Raised);
    }
}
