using Bastion.Config;

namespace Bastion.Vnc;

public enum VncOverrideAction
{
    /// <summary>Raise the desktop regardless of sshd (<c>bastionctl vnc start</c>).</summary>
    Start,

    /// <summary>Keep the desktop lowered regardless of sshd (<c>bastionctl vnc stop</c>).</summary>
    Stop,
}

/// <summary>
/// An admin's override: start or stop, until a time (null = until <c>bastionctl vnc auto</c>, a config change of vnc:, or
/// a daemon restart). <see cref="Force"/> on Stop lowers the desktop even while clients are connected (they are cut off).
/// </summary>
public sealed record VncOverride(VncOverrideAction Action, DateTimeOffset? Until, bool Force, DateTimeOffset Since);

/// <summary>The policy's answer: whether the desktop should be up, why (one line for status), and when to ask again at the latest.</summary>
public sealed record VncDecision(bool Raised, string Reason, DateTimeOffset? ReviewAt);

/// <summary>
/// When the emergency desktop is up (vnc.mode), as a pure state machine fed with sshd probe outcomes, overrides and the
/// number of connected clients, and asked with the current time (tests use a fake clock):
/// <list type="bullet">
/// <item>An unexpired override wins: Start raises; Stop lowers — once no client is connected, unless forced.</item>
/// <item>Mode always: raised.</item>
/// <item>Mode fallback: lowered until <c>failures</c> probes in a row have failed, then raised; lowered again once sshd has
/// answered every probe for <c>grace</c> and no client is connected (a client keeps it up however long it stays).
/// Before the first probe: lowered ("waiting for the first probe of check/NAME").</item>
/// </list>
/// Reasons name the check, the last probe text and the times involved, e.g. "raised: check/sshd failed 3 probes in a row
/// (connection refused by 127.0.0.1:22)" or "raised: sshd healthy since 12:00:01Z; lowering at 12:05:01Z".
/// </summary>
public sealed class VncFallbackPolicy
{
    public VncFallbackPolicy(VncMode mode, string? checkName, int failures, TimeSpan grace) => throw new NotImplementedException();

    public VncOverride? Override => throw new NotImplementedException();

    /// <summary>Consecutive failed probes so far (0 after a success).</summary>
    public int ConsecutiveFailures => throw new NotImplementedException();

    /// <summary>Since when sshd has answered every probe; null while failing or before the first probe.</summary>
    public DateTimeOffset? HealthySince => throw new NotImplementedException();

    public void ProbeSucceeded(DateTimeOffset now, string text) => throw new NotImplementedException();

    public void ProbeFailed(DateTimeOffset now, string text) => throw new NotImplementedException();

    /// <summary>Sets (or with null clears: back to automatic) the admin's override.</summary>
    public void SetOverride(VncOverride? value) => throw new NotImplementedException();

    /// <param name="now">The current time.</param>
    /// <param name="raised">Whether the desktop is up now (lowering waits for clients; raising does not).</param>
    /// <param name="clients">Connected clients (TLS connections relayed to the desktop).</param>
    public VncDecision Decide(DateTimeOffset now, bool raised, int clients) => throw new NotImplementedException();
}
