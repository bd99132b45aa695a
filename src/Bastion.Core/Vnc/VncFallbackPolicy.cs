using System.Globalization;
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
public sealed record VncOverride(VncOverrideAction Action, DateTimeOffset? Until, bool Force, DateTimeOffset Since)
{
    /// <summary>For the status detail <c>override</c>: "start until 2026-11-23T12:30:00Z", "stop (forced)", "start".</summary>
    public string Describe() =>
        (Action == VncOverrideAction.Start ? "start" : "stop")
        + (Until is { } until ? " until " + VncFallbackPolicy.Time(until) : "")
        + (Force && Action == VncOverrideAction.Stop ? " (forced)" : "");
}

/// <summary>
/// The policy part of <c>vnc:</c> — what a reload applies to the running desktop without rebuilding it (vnc.mode between
/// always and fallback, and vnc.fallback.*). Compared by value.
/// </summary>
public sealed record VncPolicySettings(VncMode Mode, string? Check, int Failures, TimeSpan Grace)
{
    public static VncPolicySettings From(VncConfig vnc)
    {
        ArgumentNullException.ThrowIfNull(vnc);
        return new(vnc.Mode, vnc.Fallback.Check, vnc.Fallback.Failures, vnc.Fallback.Grace);
    }
}

/// <summary>Why the policy wants the desktop up or down: what code branches on (the words are made by <see cref="VncDecision.Explain"/>).</summary>
public enum VncCause
{
    /// <summary>vnc.mode always.</summary>
    ModeAlways,

    /// <summary>vnc.mode off.</summary>
    ModeOff,

    /// <summary><c>bastionctl vnc start</c>.</summary>
    StartedByAdmin,

    /// <summary><c>bastionctl vnc stop</c> (raised while <see cref="VncDecision.Clients"/> or a logged-in user hold it, unless forced).</summary>
    StoppedByAdmin,

    /// <summary>Fallback mode before the check's first result.</summary>
    WaitingForFirstProbe,

    /// <summary>The check failed <c>failures</c> probes in a row (raised).</summary>
    CheckFailed,

    /// <summary>Lowered, the check healthy since <see cref="VncDecision.At"/>.</summary>
    CheckHealthy,

    /// <summary>Lowered, the check failed fewer probes in a row than <c>failures</c>.</summary>
    CheckFailedFewer,

    /// <summary>Raised, the check is failing again (but not <c>failures</c> in a row) — kept up until it is healthy for the grace.</summary>
    CheckFailing,

    /// <summary>Raised, the check healthy since <see cref="VncDecision.At"/>: lowered at <see cref="VncDecision.ReviewAt"/>.</summary>
    CheckRecovering,

    /// <summary>Raised, the check healthy for the whole grace, but clients or a logged-in user hold the desktop up.</summary>
    CheckRecoveredHeld,
}

/// <summary>
/// The policy's answer: whether the desktop should be up, why (<see cref="Cause"/> and its facts), and when to ask again at
/// the latest. <see cref="Reason"/> and <see cref="Explain"/> make the words (status, log) from them.
/// </summary>
public sealed record VncDecision(bool Raised, VncCause Cause, DateTimeOffset? ReviewAt)
{
    /// <summary>"check/NAME" the cause is about (fallback causes).</summary>
    public string? Check { get; init; }

    /// <summary>When the cause began: the admin's command, the first failure in a row, healthy since.</summary>
    public DateTimeOffset? At { get; init; }

    /// <summary>The admin's override ends (null: until bastionctl vnc auto).</summary>
    public DateTimeOffset? Until { get; init; }

    /// <summary>The check's last probe text (a fact from the check, shown, never branched on).</summary>
    public string? LastProbe { get; init; }

    /// <summary>vnc.fallback.failures.</summary>
    public int Failures { get; init; }

    /// <summary>Consecutive failed probes (<see cref="VncCause.CheckFailedFewer"/>).</summary>
    public int ConsecutiveFailures { get; init; }

    /// <summary>vnc.fallback.grace.</summary>
    public TimeSpan Grace { get; init; }

    /// <summary>Clients holding a raised desktop up.</summary>
    public int Clients { get; init; }

    /// <summary>The user logged in on the desktop's console, holding it up.</summary>
    public string? LoggedIn { get; init; }

    /// <summary>Whether clients or a logged-in user are what keeps the desktop up.</summary>
    public bool Held => Clients > 0 || LoggedIn is not null;

    /// <summary>One line for status: "raised: …" or "lowered: …".</summary>
    public string Reason => (Raised ? "raised: " : "lowered: ") + Explain();

    /// <summary>The reason without "raised: "/"lowered: " (for a sentence of another component: "not listening …: WHY").</summary>
    public string Explain()
    {
        var until = Until is { } u ? " until " + VncFallbackPolicy.Time(u) : " (until bastionctl vnc auto)";
        var at = At is { } a ? VncFallbackPolicy.Time(a) : "-";
        return Cause switch
        {
            VncCause.ModeAlways => "vnc.mode is always",
            VncCause.ModeOff => "vnc.mode is off",
            VncCause.StartedByAdmin => $"started by an admin at {at}{until}",
            VncCause.StoppedByAdmin when Raised => $"stopped by an admin at {at}{until}; lowering once {Holders()}",
            VncCause.StoppedByAdmin => $"stopped by an admin at {at}{until}",
            VncCause.WaitingForFirstProbe => $"waiting for the first probe of {Check}",
            VncCause.CheckFailed => string.Create(CultureInfo.InvariantCulture,
                $"{Check} failed {Failures} probe{(Failures == 1 ? "" : "s")} in a row since {at} ({LastProbe})"),
            VncCause.CheckHealthy => string.Create(CultureInfo.InvariantCulture,
                $"{Check} healthy since {at}; raising after {Failures} failed probe{(Failures == 1 ? "" : "s")} in a row"),
            VncCause.CheckFailedFewer => string.Create(CultureInfo.InvariantCulture,
                $"{Check} failed the last {(ConsecutiveFailures == 1 ? "probe" : $"{ConsecutiveFailures} probes")} ({LastProbe}); raising after {Failures} in a row"),
            VncCause.CheckFailing => $"{Check} is failing ({LastProbe}); lowering once it has answered every probe for {Durations.Format(Grace)}",
            VncCause.CheckRecovering => $"{Check} healthy since {at}; lowering at {(ReviewAt is { } r ? VncFallbackPolicy.Time(r) : "-")}",
            VncCause.CheckRecoveredHeld => $"{Check} healthy since {at}; lowering once {Holders()}",
            _ => Cause.ToString(),
        };
    }

    /// <summary>"1 client has disconnected", "root has logged out of the desktop", or both joined with "and".</summary>
    private string Holders() => (Clients, LoggedIn) switch
    {
        ( > 0, null) => ClientsText(Clients) + " disconnected",
        (0, { } user) => user + " has logged out of the desktop",
        ( > 0, { } user) => ClientsText(Clients) + " disconnected and " + user + " has logged out of the desktop",
        _ => "nothing holds it",
    };

    private static string ClientsText(int n) => n == 1 ? "1 client has" : string.Create(CultureInfo.InvariantCulture, $"{n} clients have");
}

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
/// since 2026-11-23T12:00:01Z (connection refused by 127.0.0.1:22)" or "raised: check/sshd healthy since
/// 2026-11-23T12:00:01Z; lowering at 2026-11-23T12:05:01Z".
/// </summary>
/// <remarks>
/// <para>
/// Once raised by failures the desktop stays up until sshd has been healthy for the grace period: a single good probe
/// between failures does not lower it (a flapping sshd must not flap the desktop). The same holds for a desktop that is up
/// for another reason (an expired Start override): it is lowered by the grace rule, counted from <see cref="HealthySince"/>.
/// </para>
/// <para>
/// Reasons are stable: the same situation gives the same text (the supervisor logs every change of reason), so they hold
/// no countdown and no "now" — only the times at which things happened or will happen, as UTC to the second.
/// </para>
/// <para>Not thread-safe: one owner (the VNC component's loop) feeds and asks it.</para>
/// </remarks>
public sealed class VncFallbackPolicy
{
    private VncMode _mode;
    private string _check;
    private int _failures;
    private TimeSpan _grace;
    private VncOverride? _override;
    private int _consecutiveFailures;
    private DateTimeOffset? _healthySince;
    private DateTimeOffset? _failingSince;
    private string? _lastText;
    private bool _probed;

    /// <summary>Raised because of failures (or kept up by the grace rule) and not yet lowered by it.</summary>
    private bool _tripped;

    /// <exception cref="ArgumentException">Mode fallback without a check name, failures below 1, or a negative grace.</exception>
    public VncFallbackPolicy(VncMode mode, string? checkName, int failures, TimeSpan grace)
    {
        Validate(mode, checkName, failures, grace);
        _mode = mode;
        _check = "check/" + (checkName ?? "?");
        _failures = failures;
        _grace = grace;
    }

    public VncFallbackPolicy(VncPolicySettings settings)
        : this(settings?.Mode ?? throw new ArgumentNullException(nameof(settings)), settings.Check, settings.Failures, settings.Grace)
    {
    }

    /// <summary>
    /// Takes new settings (a reload) and keeps what happened: the override, the probe history (unless the check is another
    /// one: its history says nothing about the new check), and whether the desktop is up because of failures — so a longer
    /// or shorter grace counts from the same <see cref="HealthySince"/>, and fewer <c>failures</c> may raise at once.
    /// </summary>
    /// <exception cref="ArgumentException">As the constructor.</exception>
    public void Reconfigure(VncPolicySettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        Validate(settings.Mode, settings.Check, settings.Failures, settings.Grace);
        var check = "check/" + (settings.Check ?? "?");
        if (check != _check)
        {
            _probed = false;
            _lastText = null;
            _consecutiveFailures = 0;
            _healthySince = null;
            _failingSince = null;
        }
        _mode = settings.Mode;
        _check = check;
        _failures = settings.Failures;
        _grace = settings.Grace;
    }

    private static void Validate(VncMode mode, string? checkName, int failures, TimeSpan grace)
    {
        if (mode == VncMode.Fallback && string.IsNullOrEmpty(checkName))
        {
            throw new ArgumentException("vnc.mode fallback needs the name of the check that watches sshd", nameof(checkName));
        }
        ArgumentOutOfRangeException.ThrowIfLessThan(failures, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(grace, TimeSpan.Zero);
    }

    public VncOverride? Override => _override;

    /// <summary>Consecutive failed probes so far (0 after a success).</summary>
    public int ConsecutiveFailures => _consecutiveFailures;

    /// <summary>Since when sshd has answered every probe; null while failing or before the first probe.</summary>
    public DateTimeOffset? HealthySince => _healthySince;

    /// <summary>The last probe's text (null before the first probe).</summary>
    public string? LastProbeText => _lastText;

    public void ProbeSucceeded(DateTimeOffset now, string text)
    {
        _probed = true;
        _lastText = text;
        _consecutiveFailures = 0;
        _failingSince = null;
        _healthySince ??= now;
    }

    public void ProbeFailed(DateTimeOffset now, string text)
    {
        // Healthy for the whole grace before this failure: the desktop was due to be lowered, so this is a new episode.
        if (_tripped && _healthySince is { } since && now - since >= _grace)
        {
            _tripped = false;
        }
        _probed = true;
        _lastText = text;
        _healthySince = null;
        _failingSince ??= now;
        _consecutiveFailures++;
        if (_consecutiveFailures >= _failures)
        {
            _tripped = true;
        }
    }

    /// <summary>Sets (or with null clears: back to automatic) the admin's override.</summary>
    public void SetOverride(VncOverride? value) => _override = value;

    /// <param name="now">The current time.</param>
    /// <param name="raised">Whether the desktop is up now (lowering waits for clients; raising does not).</param>
    /// <param name="clients">Connected clients (TLS connections relayed to the desktop).</param>
    /// <param name="loggedIn">
    /// Who is logged in on the desktop's console (null: nobody): like a connected client, it holds a raised desktop up —
    /// lowering would kill the user's shell and whatever it runs — except for a forced stop.
    /// </param>
    public VncDecision Decide(DateTimeOffset now, bool raised, int clients, string? loggedIn = null)
    {
        if (_override is { Until: { } until } && now >= until)
        {
            _override = null; // expired: back to automatic, which takes over from here (grace counted from HealthySince)
        }
        if (_override is { } o)
        {
            return DecideOverride(o, raised, clients, loggedIn);
        }
        return _mode switch
        {
            VncMode.Always => new VncDecision(true, VncCause.ModeAlways, null),
            VncMode.Fallback => DecideFallback(now, raised, clients, loggedIn),
            _ => new VncDecision(false, VncCause.ModeOff, null),
        };
    }

    private static VncDecision DecideOverride(VncOverride o, bool raised, int clients, string? loggedIn)
    {
        if (o.Action == VncOverrideAction.Start)
        {
            return new VncDecision(true, VncCause.StartedByAdmin, o.Until) { At = o.Since, Until = o.Until };
        }
        var held = raised && (clients > 0 || loggedIn is not null) && !o.Force;
        return held
            ? new VncDecision(true, VncCause.StoppedByAdmin, o.Until) { At = o.Since, Until = o.Until, Clients = clients, LoggedIn = loggedIn }
            : new VncDecision(false, VncCause.StoppedByAdmin, o.Until) { At = o.Since, Until = o.Until };
    }

    private VncDecision DecideFallback(DateTimeOffset now, bool raised, int clients, string? loggedIn)
    {
        var up = _tripped || raised;
        if (!_probed)
        {
            return new VncDecision(up, VncCause.WaitingForFirstProbe, null) { Check = _check };
        }
        if (_consecutiveFailures >= _failures)
        {
            _tripped = true;
            return new VncDecision(true, VncCause.CheckFailed, null)
            {
                Check = _check, Failures = _failures, At = _failingSince ?? now, LastProbe = _lastText,
            };
        }
        if (!up)
        {
            return _consecutiveFailures == 0
                ? new VncDecision(false, VncCause.CheckHealthy, null) { Check = _check, At = _healthySince ?? now, Failures = _failures }
                : new VncDecision(false, VncCause.CheckFailedFewer, null)
                {
                    Check = _check, ConsecutiveFailures = _consecutiveFailures, LastProbe = _lastText, Failures = _failures,
                };
        }
        if (_healthySince is not { } since)
        {
            return new VncDecision(true, VncCause.CheckFailing, null) { Check = _check, LastProbe = _lastText, Grace = _grace };
        }
        var lowerAt = since + _grace;
        if (now < lowerAt)
        {
            return new VncDecision(true, VncCause.CheckRecovering, lowerAt) { Check = _check, At = since };
        }
        if (raised && (clients > 0 || loggedIn is not null))
        {
            return new VncDecision(true, VncCause.CheckRecoveredHeld, null) { Check = _check, At = since, Clients = clients, LoggedIn = loggedIn };
        }
        _tripped = false;
        // The same cause as when it was lowered all along: one reason (one log line) for one situation.
        return new VncDecision(false, VncCause.CheckHealthy, null) { Check = _check, At = since, Failures = _failures };
    }

    /// <summary>ISO 8601 UTC to the second: 2026-11-23T12:00:01Z.</summary>
    internal static string Time(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);
}
