// CA1873: these log calls run once per state change or command, never in a hot loop; the cost is irrelevant.
#pragma warning disable CA1873

using System.Globalization;
using Bastion.Config;
using Bastion.Daemon.Checks;
using Bastion.Supervision;
using Bastion.Vnc;
using Microsoft.Extensions.Logging;

namespace Bastion.Daemon.Vnc;

/// <summary>
/// <c>vnc/desktop</c>: the emergency desktop. One owner loop decides with <see cref="VncFallbackPolicy"/> (fed by the sshd
/// check's probes through <see cref="CheckResults"/>, by admins' commands and by the number of connected clients) whether the
/// desktop is raised, and makes it so: raise = Xvnc, probe until Up, open the <see cref="VncGate"/> (the TLS endpoint starts
/// listening), start the session; lower = close the gate, stop session and Xvnc. While raised it probes Xvnc every 5 s and
/// restarts Xvnc or the session with backoff when they exit. Standby while lowered, Running while raised and answering,
/// Degraded while raised but broken; the reason always says which and why.
/// </summary>
public sealed partial class VncComponent : IComponent, IVncControl
{
    private static readonly TimeSpan ProbeInterval = TimeSpan.FromSeconds(5);

    /// <summary>A session that ran this long exited normally (login gives up after 60 s): restart it at the initial delay.</summary>
    private static readonly TimeSpan SessionRanLongEnough = TimeSpan.FromSeconds(10);

    private readonly VncConfig _config;
    private readonly PathsConfig _paths;
    private readonly string _passwordFile;
    private readonly bool _generatedPassword;
    private readonly string _endpoint;
    private readonly ILogger _logger;
    private readonly BackoffPolicy _backoff;
    private readonly CheckResults _checks;
    private readonly VncGate _gate;
    private readonly VncFallbackPolicy _policy;
    private readonly Lock _lock = new(); // guards _policy, _lastCheck, _time
    private TaskCompletionSource _wake = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private TimeProvider _time = TimeProvider.System;
    private CheckResult? _lastCheck;
    private bool _replayed;
    private string? _sandboxWarning;

    public VncComponent(BastionConfig config, CheckResults checks, VncGates gates, ILogger logger)
    {
        _config = config.Vnc ?? throw new ArgumentException("vnc: is not configured", nameof(config));
        _paths = config.Paths;
        _passwordFile = VncPaths.PasswordFile(config);
        _generatedPassword = _config.PasswordFile is null;
        _endpoint = _config.Endpoint ?? throw new ArgumentException("vnc.endpoint is not set", nameof(config));
        _logger = logger;
        _backoff = new BackoffPolicy(config.Supervision.Backoff);
        _checks = checks;
        _gate = gates.For(_endpoint);
        _policy = new VncFallbackPolicy(_config.Mode, _config.Fallback.Check, _config.Fallback.Failures, _config.Fallback.Grace);
    }

    public async Task RunAsync(IComponentContext context, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            _time = context.Time;
        }
        var time = context.Time;
        SetStaticDetails(context);
        var password = LoadPassword();
        var desktop = new VncDesktop(_config, _paths, _passwordFile, _logger);
        using var subscription = _config.Mode == VncMode.Fallback && _config.Fallback.Check is { } check
            ? _checks.Subscribe(check, OnCheckResult)
            : null;
        var run = new Run(context, desktop, password);
        var sandbox = SessionSandbox.Describe();
        context.SetDetail("sessionSandbox", sandbox ?? "none");
        if (sandbox is not null)
        {
            _sandboxWarning = SessionSandbox.Warning(sandbox);
            VncLog.SessionSandboxed(_logger, _sandboxWarning);
        }
        try
        {
            await LoopAsync(run, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            // Stopping (daemon stop, reload) or failing: nothing of the desktop outlives the attempt. An admin working in it
            // loses the session: say so, so that the cut-off is explained in the log.
            if (_gate.Clients is > 0 and var clients)
            {
                VncLog.StoppedUnderClients(_logger, Clients(clients));
            }
            _gate.Close("vnc/desktop is not running");
            await desktop.StopAsync(time).ConfigureAwait(false);
            SetProcessDetails(context, desktop);
        }
    }

    /// <summary>The loop's own state (one attempt).</summary>
    private sealed class Run(IComponentContext context, VncDesktop desktop, string password)
    {
        public IComponentContext Context { get; } = context;
        public VncDesktop Desktop { get; } = desktop;
        public string Password { get; set; } = password;
        public bool Raised { get; set; }
        public DateTimeOffset? XvncStartDue { get; set; }
        public int XvncAttempt { get; set; }
        public DateTimeOffset XvncUpSince { get; set; }
        public long XvncRestarts { get; set; }
        public DateTimeOffset? SessionStartDue { get; set; }
        public int SessionAttempt { get; set; }
        public DateTimeOffset SessionStartedAt { get; set; }
        public DateTimeOffset? ProbeDue { get; set; }
        public RfbProbeResult? Probe { get; set; }
        public string ProbeText { get; set; } = "-";
        public string? Problem { get; set; }

        /// <summary>The session keeps exiting at once or cannot start; cleared once one has run for a while.</summary>
        public string? SessionProblem { get; set; }
    }

    private async Task LoopAsync(Run run, CancellationToken cancellationToken)
    {
        var context = run.Context;
        var time = context.Time;
        var desktop = run.Desktop;
        while (true)
        {
            var wake = ResetWake();
            var gateChanged = _gate.Changed;
            var now = time.GetUtcNow();
            VncDecision decision;
            lock (_lock)
            {
                decision = _policy.Decide(now, run.Raised, _gate.Clients);
            }
            if (decision.Raised && !run.Raised)
            {
                run.Raised = true;
                run.XvncStartDue = now;
                run.XvncAttempt = 0;
                run.Problem = null;
                VncLog.Raising(_logger, decision.Reason);
            }
            else if (!decision.Raised && run.Raised)
            {
                VncLog.Lowering(_logger, decision.Reason);
                _gate.Close(decision.Reason);
                await desktop.StopAsync(time).ConfigureAwait(false);
                VncLog.Lowered(_logger, _config.Display);
                run.Raised = false;
                run.XvncStartDue = run.SessionStartDue = run.ProbeDue = null;
                run.Probe = null;
                run.ProbeText = "-";
                run.Problem = null;
                run.SessionProblem = null;
            }
            if (!run.Raised)
            {
                _gate.Close(decision.Reason);
            }
            else
            {
                await KeepRaisedAsync(run, decision, cancellationToken).ConfigureAwait(false);
            }
            SetDecisionDetails(context, decision);
            SetProcessDetails(context, desktop);
            context.SetDetail("probe", run.ProbeText);
            context.SetDetail("xvncRestarts", run.XvncRestarts.ToString(CultureInfo.InvariantCulture));
            Report(run, decision);
            await WaitAsync(run, decision, wake, gateChanged, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>While raised: start Xvnc when due, notice its exit, start the session when due, probe every 5 s.</summary>
    private async Task KeepRaisedAsync(Run run, VncDecision decision, CancellationToken cancellationToken)
    {
        var context = run.Context;
        var time = context.Time;
        var desktop = run.Desktop;
        if (desktop.Xvnc is { HasExited: true } dead)
        {
            await XvncExitedAsync(run, dead, cancellationToken).ConfigureAwait(false);
        }
        if (desktop.Xvnc is null && run.XvncStartDue is { } due && due <= time.GetUtcNow())
        {
            await StartXvncAsync(run, decision, cancellationToken).ConfigureAwait(false);
        }
        if (desktop.Xvnc is { HasExited: false })
        {
            if (desktop.Session is { HasExited: true } session)
            {
                session.Flush();
                var ranFor = time.GetUtcNow() - run.SessionStartedAt;
                run.SessionAttempt = ranFor >= SessionRanLongEnough ? 0 : run.SessionAttempt + 1;
                var delay = _backoff.NextDelay(run.SessionAttempt);
                // A session that ends at once is broken (a wrong command): its last words say why.
                var exit = ranFor >= SessionRanLongEnough || session.LastLines.Count == 0
                    ? session.ExitDescription
                    : $"{session.ExitDescription} right after starting: {session.LastLines[^1]}";
                VncLog.SessionExited(_logger, session.Pid, exit, Durations.Format(delay));
                if (run.SessionAttempt >= 3)
                {
                    run.SessionProblem = $"the session keeps exiting ({exit}); restarting it with backoff — check vnc.session";
                }
                await desktop.StopSessionAsync(time).ConfigureAwait(false);
                run.SessionStartDue = time.GetUtcNow() + delay;
            }
            if (desktop.Session is null && run.SessionStartDue is { } sessionDue && sessionDue <= time.GetUtcNow())
            {
                StartSession(run);
            }
            if (desktop.Session is { HasExited: false } && time.GetUtcNow() - run.SessionStartedAt >= SessionRanLongEnough)
            {
                run.SessionProblem = null;
            }
            if (run.ProbeDue is { } probeDue && probeDue <= time.GetUtcNow())
            {
                await ProbeAsync(run, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private async Task StartXvncAsync(Run run, VncDecision decision, CancellationToken cancellationToken)
    {
        var context = run.Context;
        var time = context.Time;
        var desktop = run.Desktop;
        context.SetDetail("desired", "raised");
        if (run.Problem is null)
        {
            context.ReportDegraded($"{decision.Reason}; starting Xvnc on :{_config.Display}");
        }
        run.XvncStartDue = null;
        try
        {
            run.Password = ReadPasswordForProbe(run.Password);
            var probe = await desktop.StartXvncAsync(run.Password, time, cancellationToken).ConfigureAwait(false);
            run.XvncUpSince = time.GetUtcNow();
            run.Problem = null;
            SetProbe(run, probe);
            run.ProbeDue = time.GetUtcNow() + ProbeInterval;
            run.SessionStartDue = time.GetUtcNow();
            VncLog.Raised(_logger, _config.Display, _config.Geometry, desktop.Xvnc!.Pid, _endpoint);
            _gate.Open();
            await WaitForEndpointAsync(time, cancellationToken).ConfigureAwait(false);
        }
        catch (DesktopStartException e)
        {
            await desktop.StopAsync(time).ConfigureAwait(false); // a half-started Xvnc is not left behind
            var delay = _backoff.NextDelay(run.XvncAttempt++);
            run.XvncStartDue = time.GetUtcNow() + delay;
            run.Problem = $"{e.Message}; retrying with backoff"; // the delay is in the log: a stable reason does not churn the state
            VncLog.XvncStartFailed(_logger, e.Message, Durations.Format(delay));
        }
    }

    /// <summary>
    /// Gives the endpoint a moment to start listening, so that "Running" names where the desktop is reachable (rather than
    /// "not serving yet" followed by a second Running). Bounded: an endpoint that cannot bind says why in its own state.
    /// </summary>
    private async Task WaitForEndpointAsync(TimeProvider time, CancellationToken cancellationToken)
    {
        var deadline = time.GetUtcNow() + TimeSpan.FromSeconds(2);
        while (_gate.Serving is null && time.GetUtcNow() < deadline)
        {
            var changed = _gate.Changed;
            if (_gate.Serving is not null)
            {
                break;
            }
            await Task.WhenAny(changed, Task.Delay(TimeSpan.FromMilliseconds(100), time, cancellationToken)).ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested();
        }
    }

    private async Task XvncExitedAsync(Run run, DesktopProcess dead, CancellationToken cancellationToken)
    {
        var time = run.Context.Time;
        dead.Flush();
        var exit = dead.ExitDescription;
        var upFor = time.GetUtcNow() - run.XvncUpSince;
        run.XvncAttempt = _backoff.EarnsReset(upFor) ? 0 : run.XvncAttempt + 1;
        var delay = _backoff.NextDelay(run.XvncAttempt);
        run.Desktop.ForgetXvnc();
        // Nothing to relay to until the new Xvnc answers: the endpoint stops listening meanwhile (its clients are gone with
        // Xvnc anyway), rather than accepting admins only to fail on the socket.
        _gate.Close($"Xvnc {exit}; restarting it");
        await run.Desktop.StopSessionAsync(time).ConfigureAwait(false); // it lost its display anyway
        // The probe, once more, so status and log show the outage as a client would see it.
        SetProbe(run, await run.Desktop.ProbeAsync(run.Password, time, cancellationToken).ConfigureAwait(false));
        run.XvncRestarts++;
        run.XvncStartDue = time.GetUtcNow() + delay;
        run.ProbeDue = null;
        run.Problem = $"Xvnc {exit}; restarting in {Durations.Format(delay)}; probe: {run.ProbeText}";
        VncLog.XvncExited(_logger, dead.Pid, exit, run.ProbeText, Durations.Format(delay));
    }

    private void StartSession(Run run)
    {
        var time = run.Context.Time;
        run.SessionStartDue = null;
        try
        {
            run.Desktop.StartSession();
            run.SessionStartedAt = time.GetUtcNow();
        }
        catch (DesktopStartException e)
        {
            var delay = _backoff.NextDelay(run.SessionAttempt++);
            run.SessionStartDue = time.GetUtcNow() + delay;
            VncLog.SessionStartFailed(_logger, e.Message, Durations.Format(delay));
            run.SessionProblem = e.Message + "; retrying with backoff";
        }
    }

    private async Task ProbeAsync(Run run, CancellationToken cancellationToken)
    {
        var time = run.Context.Time;
        run.Password = ReadPasswordForProbe(run.Password);
        SetProbe(run, await run.Desktop.ProbeAsync(run.Password, time, cancellationToken).ConfigureAwait(false));
        run.ProbeDue = time.GetUtcNow() + ProbeInterval;
    }

    private void SetProbe(Run run, RfbProbeResult probe)
    {
        var text = ProbeText(probe);
        if (text != run.ProbeText)
        {
            VncLog.ProbeChanged(_logger, text);
        }
        run.Probe = probe;
        run.ProbeText = text;
    }

    /// <summary>"up: 1280x800 'name'", "auth broken: …", "dead: …" (Core's wording, shared with bastionctl vnc probe).</summary>
    internal static string ProbeText(RfbProbeResult probe) => probe.Describe();

    private void Report(Run run, VncDecision decision)
    {
        var context = run.Context;
        if (!run.Raised)
        {
            context.ReportStandby(decision.Reason);
            return;
        }
        var desktop = run.Desktop;
        if (run.Problem is { } problem)
        {
            context.ReportDegraded($"{decision.Reason}; {problem}");
        }
        else if (desktop.Xvnc is null)
        {
            context.ReportDegraded($"{decision.Reason}; starting Xvnc on :{_config.Display}");
        }
        else if (run.Probe is not { Health: RfbHealth.Up })
        {
            context.ReportDegraded($"{decision.Reason}; desktop :{_config.Display} {_config.Geometry} does not answer: probe {run.ProbeText}");
        }
        else if (run.SessionProblem is { } session)
        {
            context.ReportDegraded($"{decision.Reason}; desktop :{_config.Display} {_config.Geometry} up but {session}");
        }
        else
        {
            var serving = _gate.Serving is { } s ? $"tls/{_endpoint} {s}" : $"tls/{_endpoint} not serving yet";
            if (_sandboxWarning is { } sandboxed)
            {
                context.ReportDegraded($"{decision.Reason}; desktop :{_config.Display} {_config.Geometry} up; {serving}; but {sandboxed}");
            }
            else
            {
                context.ReportRunning($"{decision.Reason}; desktop :{_config.Display} {_config.Geometry} up; {serving}");
            }
        }
    }

    private static async Task WaitAsync(Run run, VncDecision decision, Task wake, Task gateChanged, CancellationToken cancellationToken)
    {
        var time = run.Context.Time;
        var now = time.GetUtcNow();
        DateTimeOffset? next = decision.ReviewAt;
        foreach (var due in new[] { run.XvncStartDue, run.SessionStartDue, run.ProbeDue })
        {
            if (due is { } d && (next is null || d < next))
            {
                next = d;
            }
        }
        var waits = new List<Task> { wake, gateChanged };
        if (run.Desktop.Xvnc is { } xvnc)
        {
            waits.Add(xvnc.Exited);
        }
        if (run.Desktop.Session is { } session)
        {
            waits.Add(session.Exited);
        }
        using var delayCancel = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var delay = next is { } at ? at - now : Timeout.InfiniteTimeSpan;
        if (next is not null)
        {
            delay = delay < TimeSpan.Zero ? TimeSpan.Zero : delay > TimeSpan.FromDays(1) ? TimeSpan.FromDays(1) : delay;
        }
        var timer = Task.Delay(delay, time, delayCancel.Token);
        waits.Add(timer);
        await Task.WhenAny(waits).ConfigureAwait(false);
        await delayCancel.CancelAsync().ConfigureAwait(false);
        cancellationToken.ThrowIfCancellationRequested();
    }

    private Task ResetWake()
    {
        lock (_lock)
        {
            if (_wake.Task.IsCompleted)
            {
                _wake = new(TaskCreationOptions.RunContinuationsAsynchronously);
            }
            return _wake.Task;
        }
    }

    private void Wake()
    {
        TaskCompletionSource wake;
        lock (_lock)
        {
            wake = _wake;
        }
        wake.TrySetResult();
    }

    private void OnCheckResult(CheckResult result)
    {
        lock (_lock)
        {
            if (result == _lastCheck)
            {
                return; // the replay, to a later attempt of this component, of a probe the policy has already seen
            }
            _lastCheck = result;
            if (result.Ok)
            {
                _policy.ProbeSucceeded(result.At, result.Text);
            }
            else
            {
                // The first result may be a replay (the check ran before this component): count the failures it had.
                var count = _replayed ? 1 : Math.Clamp(result.ConsecutiveFailures, 1, _config.Fallback.Failures);
                for (var i = 0; i < count; i++)
                {
                    _policy.ProbeFailed(result.At, result.Text);
                }
            }
            _replayed = true;
        }
        Wake();
    }
}
