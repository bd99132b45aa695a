namespace Bastion.Ssh;

/// <summary>Where a shared SSH session is. Dead and Closed are final: a new session replaces a dead one.</summary>
public enum SshSessionState
{
    /// <summary>Connecting and authenticating.</summary>
    Connecting,

    /// <summary>Connected; the last probe was answered (or none was due yet).</summary>
    Up,

    /// <summary>Connected, but the last probe(s) got no answer: fewer in a row than the limit.</summary>
    Suspect,

    /// <summary>Could not connect, lost, or declared dead: the failure says why.</summary>
    Dead,

    /// <summary>Closed because no tunnel uses it any more.</summary>
    Closed,
}

/// <summary>What one liveness probe found out.</summary>
public enum ProbeOutcome
{
    /// <summary>The server's SSH layer answered in time.</summary>
    Answered,

    /// <summary>No answer within the probe timeout.</summary>
    NoAnswer,

    /// <summary>The connection is gone (reset, closed): no need to wait for more probes.</summary>
    ConnectionGone,
}

/// <summary>
/// The state machine of one shared session's health, without any I/O: what a probe outcome or a connection event
/// does to the state. The session calls it under its lock and acts on the returned transition.
/// </summary>
public sealed class SessionHealth
{
    public SshSessionState State { get; private set; } = SshSessionState.Connecting;

    /// <summary>Probes in a row without an answer.</summary>
    public int ConsecutiveFailures { get; private set; }

    /// <summary>Connected: true unless the session already ended.</summary>
    public bool Connected()
    {
        if (State != SshSessionState.Connecting)
        {
            return false;
        }
        State = SshSessionState.Up;
        return true;
    }

    /// <summary>Records a probe; returns the new state. <paramref name="limit"/> failures in a row are death.</summary>
    public SshSessionState Record(ProbeOutcome outcome, int limit)
    {
        if (State is not (SshSessionState.Up or SshSessionState.Suspect))
        {
            return State;
        }
        switch (outcome)
        {
            case ProbeOutcome.Answered:
                ConsecutiveFailures = 0;
                State = SshSessionState.Up;
                break;
            case ProbeOutcome.ConnectionGone:
                ConsecutiveFailures++;
                State = SshSessionState.Dead;
                break;
            default:
                ConsecutiveFailures++;
                State = ConsecutiveFailures >= Math.Max(1, limit) ? SshSessionState.Dead : SshSessionState.Suspect;
                break;
        }
        return State;
    }

    /// <summary>Ends the session (lost, failed to connect, or closed); false if it had already ended.</summary>
    public bool End(SshSessionState final)
    {
        if (State is SshSessionState.Dead or SshSessionState.Closed)
        {
            return false;
        }
        State = final;
        return true;
    }
}
