using Bastion.Config;
using Bastion.Supervision;

namespace Bastion.Ssh;

/// <summary>
/// When the shared SSH session of a server is connected again: one schedule per server, shared by every tunnel on
/// it, so all of them come back together. A session that was up and died is retried at once (the outage is already
/// over or the connect waits for it); a connect that timed out was paced by its own timeout and is retried at once
/// too (a connection waiting in a frozen server's backlog is answered the moment it thaws); anything else backs off
/// with <see cref="BackoffPolicy"/>; failures only a human can fix wait their <see cref="SshFailure.HoldOff"/>.
/// </summary>
public sealed class SshReconnectSchedule
{
    /// <summary>Short: a refused or reset connect is cheap for the server, and an admin waits for every second.</summary>
    public static readonly BackoffConfig DefaultBackoff = new()
    {
        Initial = TimeSpan.FromMilliseconds(250),
        Max = TimeSpan.FromSeconds(5),
        ResetAfter = TimeSpan.FromSeconds(60),
    };

    private readonly BackoffPolicy _backoff;
    private int _attempt;

    public SshReconnectSchedule(BackoffConfig? backoff = null, Func<double>? random = null) =>
        _backoff = new BackoffPolicy(backoff ?? DefaultBackoff, random);

    /// <summary>Retries made since the last reset (a session that stayed up long enough).</summary>
    public int Attempt => _attempt;

    /// <summary>
    /// The wait before the next connect, after <paramref name="failure"/>. <paramref name="upFor"/> is how long the
    /// session that just ended was connected (null: it never connected).
    /// </summary>
    public TimeSpan NextDelay(SshFailureKind failure, TimeSpan? upFor)
    {
        if (upFor is { } up && _backoff.EarnsReset(up))
        {
            _attempt = 0;
        }
        var attempt = _attempt++;
        if (new SshFailure(failure, "").HoldOff is { } holdOff)
        {
            return holdOff;
        }
        if (upFor is not null && attempt == 0)
        {
            return TimeSpan.Zero;
        }
        if (failure is SshFailureKind.TimedOut)
        {
            return TimeSpan.Zero;
        }
        return _backoff.NextDelay(Math.Max(0, attempt - (upFor is null ? 0 : 1)));
    }
}
