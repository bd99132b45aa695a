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
            VncMode.Always => new VncDecision(true, "raised: vnc.mode is always", null),
            VncMode.Fallback => DecideFallback(now, raised, clients, loggedIn),
            _ => new VncDecision(false, "lowered: vnc.mode is off", null),
        };
    }

    private static VncDecision DecideOverride(VncOverride o, bool raised, int clients, string? loggedIn)
    {
        var until = o.Until is { } u ? " until " + Time(u) : " (until bastionctl vnc auto)";
        if (o.Action == VncOverrideAction.Start)
        {
            return new VncDecision(true, $"raised: started by an admin at {Time(o.Since)}{until}", o.Until);
        }
        if (raised && (clients > 0 || loggedIn is not null) && !o.Force)
        {
            return new VncDecision(true, $"raised: stopped by an admin at {Time(o.Since)}{until}; lowering once {Holders(clients, loggedIn)}", o.Until);
        }
        return new VncDecision(false, $"lowered: stopped by an admin at {Time(o.Since)}{until}", o.Until);
    }

    private VncDecision DecideFallback(DateTimeOffset now, bool raised, int clients, string? loggedIn)
    {
        var up = _tripped || raised;
        if (!_probed)
        {
            return up
                ? new VncDecision(true, $"raised: waiting for the first probe of {_check}", null)
                : new VncDecision(false, $"lowered: waiting for the first probe of {_check}", null);
        }
        if (_consecutiveFailures >= _failures)
        {
            _tripped = true;
            return new VncDecision(true,
                string.Create(CultureInfo.InvariantCulture, $"raised: {_check} failed {_failures} probe{(_failures == 1 ? "" : "s")} in a row since {Time(_failingSince ?? now)} ({_lastText})"),
                null);
        }
        if (!up)
        {
            return _consecutiveFailures == 0
                ? new VncDecision(false, string.Create(CultureInfo.InvariantCulture,
                    $"lowered: {_check} healthy since {Time(_healthySince ?? now)}; raising after {_failures} failed probe{(_failures == 1 ? "" : "s")} in a row"), null)
                : new VncDecision(false, string.Create(CultureInfo.InvariantCulture,
                    $"lowered: {_check} failed the last {(_consecutiveFailures == 1 ? "probe" : $"{_consecutiveFailures} probes")} ({_lastText}); raising after {_failures} in a row"), null);
        }
        if (_healthySince is not { } since)
        {
            return new VncDecision(true,
                $"raised: {_check} is failing ({_lastText}); lowering once it has answered every probe for {Durations.Format(_grace)}", null);
        }
        var lowerAt = since + _grace;
        if (now < lowerAt)
        {
            return new VncDecision(true, $"raised: {_check} healthy since {Time(since)}; lowering at {Time(lowerAt)}", lowerAt);
        }
        if (raised && (clients > 0 || loggedIn is not null))
        {
            return new VncDecision(true, $"raised: {_check} healthy since {Time(since)}; lowering once {Holders(clients, loggedIn)}", null);
        }
        _tripped = false;
        return new VncDecision(false,
            // The same text as when it was lowered all along: one reason (one log line) for one situation.
            string.Create(CultureInfo.InvariantCulture, $"lowered: {_check} healthy since {Time(since)}; raising after {_failures} failed probe{(_failures == 1 ? "" : "s")} in a row"),
            null);
    }

    /// <summary>"1 client has disconnected", "root has logged out of the desktop", or both joined with "and".</summary>
    private static string Holders(int clients, string? loggedIn) => (clients, loggedIn) switch
    {
        ( > 0, null) => Clients(clients) + " disconnected",
        (0, { } user) => user + " has logged out of the desktop",
        ( > 0, { } user) => Clients(clients) + " disconnected and " + user + " has logged out of the desktop",
        _ => "nothing holds it",
    };

    private static string Clients(int n) => n == 1 ? "1 client has" : string.Create(CultureInfo.InvariantCulture, $"{n} clients have");

    /// <summary>ISO 8601 UTC to the second: 2026-11-23T12:00:01Z.</summary>
    internal static string Time(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);
}
