using System.Globalization;
using Bastion.Config;

namespace Bastion.Tls;

/// <summary>How one dial of a phone-home endpoint (tls mode dial) ended.</summary>
public enum DialOutcome
{
    /// <summary>Connection refused: nobody listens at the address (the normal state of a phone-home endpoint).</summary>
    NoListener,

    /// <summary>No answer within the connect timeout (host down, or a firewall dropping the packets).</summary>
    NoAnswer,

    /// <summary>Any other network error (no route, name does not resolve, …).</summary>
    Unreachable,

    /// <summary>TCP was accepted but the listener started no TLS handshake in time (a busy or frozen listener).</summary>
    ListenerSilent,

    /// <summary>The listener started a handshake that was refused (its certificate, protocol, or it went away).</summary>
    ListenerRefused,

    /// <summary>The listener presented a valid certificate: a session is open.</summary>
    SessionOpened,
}

/// <summary>What a phone-home endpoint is doing, as a phase derived from its sessions and its last outcome.</summary>
public enum DialPhase
{
    /// <summary>No attempt has ended yet.</summary>
    Starting,

    /// <summary>No session open; the last attempt found no (usable) listener. Healthy: it keeps dialling.</summary>
    Dialing,

    /// <summary>At least one session open, below the limit: it keeps dialling for the next listener.</summary>
    Connected,

    /// <summary>As many sessions open as the limit allows: no dialling until one closes.</summary>
    AtLimit,
}

/// <summary>
/// The state of a phone-home endpoint (issue: nobody listening is its normal state, not a problem): attempts, open
/// sessions against a limit, the last outcome and since when it has been the outcome. Pure logic on a
/// <see cref="TimeProvider"/>; the words are made in <see cref="Describe"/>. Thread-safe (sessions end on their own tasks).
/// </summary>
public sealed class DialState(string target, TimeSpan interval, int maxSessions, TimeProvider time)
{
    private readonly Lock _gate = new();
    private long _attempts;
    private long _skippedAtLimit;
    private long _sessionsOpened;
    private int _inFlight;
    private int _sessions;
    private DialOutcome? _outcome;
    private string? _detail;
    private DateTimeOffset _outcomeSince;
    private TimeSpan _interval = interval;
    private int _maxSessions = maxSessions;

    public int MaxSessions { get { lock (_gate) { return _maxSessions; } } }

    /// <summary>How often a dial is made (tls[].interval).</summary>
    public TimeSpan Interval { get { lock (_gate) { return _interval; } } }

    /// <summary>
    /// A reload changed tls[].interval or maxSessions: taken from now on; open sessions stay (a lower limit only stops new
    /// dials until enough of them have closed).
    /// </summary>
    public void Reconfigure(TimeSpan interval, int maxSessions)
    {
        lock (_gate)
        {
            _interval = interval;
            _maxSessions = maxSessions;
        }
    }

    public long Attempts { get { lock (_gate) { return _attempts; } } }

    /// <summary>Intervals in which no dial was made because <see cref="MaxSessions"/> were open.</summary>
    public long SkippedAtLimit { get { lock (_gate) { return _skippedAtLimit; } } }

    /// <summary>Dialled connections in progress: handshaking or relaying (each holds a slot of the limit).</summary>
    public int Open { get { lock (_gate) { return _inFlight + _sessions; } } }

    /// <summary>Sessions open: a listener presented a valid certificate and the relay runs.</summary>
    public int Sessions { get { lock (_gate) { return _sessions; } } }

    public long SessionsOpened { get { lock (_gate) { return _sessionsOpened; } } }

    public DialOutcome? LastOutcome { get { lock (_gate) { return _outcome; } } }

    public DialPhase Phase
    {
        get
        {
            lock (_gate)
            {
                return PhaseLocked();
            }
        }
    }

    /// <summary>
    /// Called each interval: true (and counts the attempt, holding a slot) when a dial may be made; false when
    /// <see cref="MaxSessions"/> connections are open (counted in <see cref="SkippedAtLimit"/>).
    /// </summary>
    public bool TryBeginAttempt()
    {
        lock (_gate)
        {
            if (_inFlight + _sessions >= _maxSessions)
            {
                _skippedAtLimit++;
                return false;
            }
            _attempts++;
            _inFlight++;
            return true;
        }
    }

    /// <summary>
    /// How the attempt begun by <see cref="TryBeginAttempt"/> went (a failed connect, or the handshake's result).
    /// Returns true when this outcome differs from the previous one (the first of a streak: worth a log line).
    /// A failure releases the attempt's slot; <see cref="DialOutcome.SessionOpened"/> keeps it until <see cref="SessionClosed"/>.
    /// </summary>
    public bool Record(DialOutcome outcome, string? detail = null)
    {
        lock (_gate)
        {
            _inFlight = Math.Max(0, _inFlight - 1);
            if (outcome == DialOutcome.SessionOpened)
            {
                _sessions++;
                _sessionsOpened++;
            }
            var changed = _outcome != outcome;
            if (changed)
            {
                _outcomeSince = time.GetUtcNow();
            }
            _outcome = outcome;
            _detail = detail;
            return changed;
        }
    }

    /// <summary>A session opened by <see cref="DialOutcome.SessionOpened"/> has ended: its slot is free again.</summary>
    public void SessionClosed()
    {
        lock (_gate)
        {
            _sessions = Math.Max(0, _sessions - 1);
        }
    }

    /// <summary>The state in words, for status (made here, at the edge; nothing branches on them).</summary>
    public string Describe()
    {
        lock (_gate)
        {
            var every = Durations.Format(_interval);
            var since = _outcomeSince.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);
            var last = _outcome switch
            {
                DialOutcome.NoListener => $"no listener at {target} since {since}",
                DialOutcome.NoAnswer => $"no answer from {target} since {since}",
                DialOutcome.Unreachable => $"{target} unreachable ({_detail}) since {since}",
                DialOutcome.ListenerSilent => $"the listener at {target} started no TLS handshake (busy or frozen) since {since}",
                DialOutcome.ListenerRefused => $"the listener at {target} was refused ({_detail}) since {since}",
                DialOutcome.SessionOpened => $"last session opened at {since}",
                _ => $"dialling {target}",
            };
            return PhaseLocked() switch
            {
                DialPhase.AtLimit => string.Create(CultureInfo.InvariantCulture,
                    $"connected: {_sessions} session{(_sessions == 1 ? "" : "s")} open with {target}{(_inFlight > 0 ? $" and {_inFlight} handshaking" : "")}, the limit (maxSessions {_maxSessions}): not dialling until one closes"),
                DialPhase.Connected => string.Create(CultureInfo.InvariantCulture,
                    $"connected: {_sessions} session{(_sessions == 1 ? "" : "s")} open with {target} (at most {_maxSessions}); still dialling every {every}, attempt {_attempts}"),
                DialPhase.Dialing => string.Create(CultureInfo.InvariantCulture, $"dialing: {last}, attempt {_attempts} (every {every})"),
                _ => $"dialing {target} every {every}",
            };
        }
    }

    private DialPhase PhaseLocked()
    {
        if (_inFlight + _sessions >= _maxSessions && _sessions > 0)
        {
            return DialPhase.AtLimit;
        }
        if (_sessions > 0)
        {
            return DialPhase.Connected;
        }
        return _outcome is null ? DialPhase.Starting : DialPhase.Dialing;
    }
}
