using Bastion.Config;
using Bastion.Vnc;

namespace Bastion.Tests.Vnc;

/// <summary>
/// The policy's decisions carry a typed cause with its facts; the words are made from them. Code that acts on a decision
/// (the desktop, the endpoint in front of it) branches on the cause, never on the text.
/// </summary>
public sealed class VncDecisionCauseTests
{
    private const string Refused = "connection refused by 127.0.0.1:22";
    private static readonly DateTimeOffset T0 = new(2026, 11, 23, 12, 0, 0, TimeSpan.Zero);

    private static VncFallbackPolicy Policy(int failures = 2) => new(VncMode.Fallback, "sshd", failures, TimeSpan.FromMinutes(5));

    [Fact]
    public void Each_situation_has_its_cause_and_the_reason_is_its_explanation_behind_raised_or_lowered()
    {
        var policy = Policy();
        var decisions = new List<VncDecision> { policy.Decide(T0, false, 0) };
        policy.ProbeSucceeded(T0, "SSH-2.0");
        decisions.Add(policy.Decide(T0, false, 0));
        policy.ProbeFailed(T0.AddSeconds(5), Refused);
        decisions.Add(policy.Decide(T0.AddSeconds(5), false, 0));
        policy.ProbeFailed(T0.AddSeconds(10), Refused);
        decisions.Add(policy.Decide(T0.AddSeconds(10), false, 0));
        policy.ProbeSucceeded(T0.AddSeconds(15), "SSH-2.0");
        decisions.Add(policy.Decide(T0.AddSeconds(15), true, 0));
        decisions.Add(policy.Decide(T0.AddMinutes(6), true, 1));
        decisions.Add(policy.Decide(T0.AddMinutes(6), true, 0));

        Assert.Equal(
            [VncCause.WaitingForFirstProbe, VncCause.CheckHealthy, VncCause.CheckFailedFewer, VncCause.CheckFailed, VncCause.CheckRecovering,
             VncCause.CheckRecoveredHeld, VncCause.CheckHealthy],
            decisions.Select(d => d.Cause));
        Assert.Equal([false, false, false, true, true, true, false], decisions.Select(d => d.Raised));
        Assert.All(decisions, d => Assert.Equal((d.Raised ? "raised: " : "lowered: ") + d.Explain(), d.Reason));
        Assert.Equal(Refused, decisions[3].LastProbe);
        Assert.Equal(T0.AddSeconds(5), decisions[3].At);
        Assert.Equal(1, decisions[5].Clients);
        Assert.True(decisions[5].Held);
    }

    [Fact]
    public void An_admin_s_stop_held_by_a_logged_in_user_is_the_same_cause_raised_and_says_who_holds_it()
    {
        var policy = new VncFallbackPolicy(VncMode.Always, null, 1, TimeSpan.Zero);
        policy.SetOverride(new VncOverride(VncOverrideAction.Stop, null, false, T0));

        var held = policy.Decide(T0, raised: true, clients: 0, loggedIn: "root");
        var down = policy.Decide(T0, raised: false, clients: 0);

        Assert.Equal((VncCause.StoppedByAdmin, true, "root"), (held.Cause, held.Raised, held.LoggedIn));
        Assert.EndsWith("lowering once root has logged out of the desktop", held.Reason, StringComparison.Ordinal);
        Assert.Equal((VncCause.StoppedByAdmin, false), (down.Cause, down.Raised));
        Assert.Equal("stopped by an admin at 2026-11-23T12:00:00Z (until bastionctl vnc auto)", down.Explain());
    }

    [Fact]
    public void The_same_situation_gives_an_equal_decision_so_a_gate_closed_again_does_not_churn()
    {
        var policy = Policy();
        policy.ProbeSucceeded(T0, "SSH-2.0");

        Assert.Equal(policy.Decide(T0.AddSeconds(1), false, 0), policy.Decide(T0.AddMinutes(9), false, 0));
    }

    [Theory]
    [InlineData(VncMode.Always, VncCause.ModeAlways, true, "raised: vnc.mode is always")]
    [InlineData(VncMode.Off, VncCause.ModeOff, false, "lowered: vnc.mode is off")]
    public void The_mode_alone_is_a_cause(VncMode mode, VncCause cause, bool raised, string reason)
    {
        var decision = new VncFallbackPolicy(mode, null, 1, TimeSpan.Zero).Decide(T0, false, 0);

        Assert.Equal((cause, raised, reason), (decision.Cause, decision.Raised, decision.Reason));
    }
}
