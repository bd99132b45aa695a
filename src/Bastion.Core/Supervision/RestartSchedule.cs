namespace Bastion.Supervision;

/// <summary>
/// When to start a child process again (a component's own children, e.g. the desktop's Xvnc and session), with the same
/// rule as <see cref="ComponentSupervisor"/>: the n-th quick end in a row waits <see cref="BackoffPolicy.NextDelay"/>(n);
/// a run that lasted <see cref="ResetAfter"/> or more counts as healthy, so the next wait starts from the beginning again.
/// A start that fails is an end without a run. Not thread-safe: one owner loop.
/// </summary>
public sealed class RestartSchedule(BackoffPolicy backoff, TimeSpan resetAfter)
{
    private DateTimeOffset? _startedAt;

    /// <summary>How long a run must last to reset the backoff.</summary>
    public TimeSpan ResetAfter { get; } = resetAfter;

    /// <summary>Quick ends (and failed starts) in a row; 0 after a run that lasted <see cref="ResetAfter"/>.</summary>
    public int QuickEnds { get; private set; }

    /// <summary>The process is running from <paramref name="now"/>.</summary>
    public void Started(DateTimeOffset now) => _startedAt = now;

    /// <summary>Whether the current run has lasted long enough to count as healthy.</summary>
    public bool RanLongEnough(DateTimeOffset now) => _startedAt is { } since && now - since >= ResetAfter;

    /// <summary>It ended (or could not start) at <paramref name="now"/>: the delay before the next start.</summary>
    public TimeSpan Ended(DateTimeOffset now)
    {
        if (RanLongEnough(now))
        {
            QuickEnds = 0;
        }
        _startedAt = null;
        return backoff.NextDelay(QuickEnds++);
    }

    /// <summary>A new beginning (the desktop was raised again): the history is forgotten.</summary>
    public void Reset()
    {
        _startedAt = null;
        QuickEnds = 0;
    }
}
