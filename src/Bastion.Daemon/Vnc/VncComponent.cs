// CA1873: these log calls run once per state change or command, never in a hot loop; the cost is irrelevant.
#pragma warning disable CA1873

using System.Globalization;
using System.Threading.Channels;
using Bastion.Config;
using Bastion.Daemon.Checks;
using Bastion.Supervision;
using Bastion.Vnc;
using Microsoft.Extensions.Logging;

namespace Bastion.Daemon.Vnc;

/// <summary>
/// <c>vnc/desktop</c>: the emergency desktop. One owner loop decides with <see cref="VncFallbackPolicy"/> whether the desktop
/// is raised, and makes it so: raise = Xvnc, probe until Up, open the <see cref="VncGate"/> (the TLS endpoint starts
/// listening), start the session; lower = close the gate, stop session and Xvnc. Everything that changes the decision
/// reaches the loop through its inbox, as in DaemonService: the sshd check's results (<see cref="CheckResults"/>), admins'
/// commands (answered by the loop), a reload's new policy; the loop also wakes for a change of the gate (clients), an
/// exited process and its own due times. Only the loop touches the policy and the desktop: no lock. While raised it probes
/// Xvnc every 5 s and restarts Xvnc or the session (one <see cref="RestartSchedule"/> each) when they exit. The state and
/// its reason are derived from one <see cref="DesktopPhase"/>: Standby while lowered, Running while raised and answering,
/// Degraded while raised but broken.
/// </summary>
public sealed partial class VncComponent : IComponent, IVncControl, ILivePolicy
{
    private static readonly TimeSpan ProbeInterval = TimeSpan.FromSeconds(5);

    /// <summary>A session that ran this long exited normally (login gives up after 60 s): restart it at the initial delay.</summary>
    internal static readonly TimeSpan SessionRanLongEnough = TimeSpan.FromSeconds(10);

    /// <summary>
    /// How long a command waits for the loop: longer than the slowest thing the loop does in one step (an Xvnc start, 20 s,
    /// or a stop, 5 s), so a command gets its answer unless the component is down between attempts.
    /// </summary>
    internal static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(30);

    private readonly VncConfig _config;
    private readonly PathsConfig _paths;
    private readonly string _passwordFile;
    private readonly bool _generatedPassword;
    private readonly string _endpoint;
    private readonly ILogger _logger;
    private readonly BackoffPolicy _backoff;
    private readonly CheckResults _checks;
    private readonly VncGate _gate;
    private readonly Func<IDesktop> _createDesktop;
    private readonly Channel<Input> _inbox = Channel.CreateUnbounded<Input>(new UnboundedChannelOptions { SingleReader = true });

    // Owned by the loop (and by nothing else): the policy, the settings it was made with, the last check result it saw.
    private readonly VncFallbackPolicy _policy;
    private VncPolicySettings _settings;
    private CheckResult? _lastCheck;
    private bool _replayed;
    private string? _sandboxWarning;

    /// <summary>The attempt's clock, for a command's timeout (a command may arrive before the first attempt).</summary>
    private volatile TimeProvider _time = TimeProvider.System;

    private abstract record Input;

    private sealed record CommandInput(VncCommand Command, TaskCompletionSource<VncCommandOutcome> Done) : Input;

    private sealed record CheckInput(CheckResult Result) : Input;

    private sealed record PolicyInput(VncPolicySettings Settings) : Input;

    public VncComponent(BastionConfig config, CheckResults checks, VncGates gates, ILogger logger)
        : this(config, checks, gates, logger, null)
    {
    }

    /// <summary>
    /// As the public constructor, with the desktop of an attempt made by <paramref name="createDesktop"/> (tests: a scripted
    /// one; null = Xvnc and the session) and the restart delays drawn by <paramref name="backoff"/> (tests: without jitter).
    /// </summary>
    internal VncComponent(BastionConfig config, CheckResults checks, VncGates gates, ILogger logger, Func<IDesktop>? createDesktop, BackoffPolicy? backoff = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        _config = config.Vnc ?? throw new ArgumentException("vnc: is not configured", nameof(config));
        _paths = config.Paths;
        _passwordFile = VncPaths.PasswordFile(config);
        _generatedPassword = _config.PasswordFile is null;
        _endpoint = _config.Endpoint ?? throw new ArgumentException("vnc.endpoint is not set", nameof(config));
        _logger = logger;
        _backoff = backoff ?? new BackoffPolicy(config.Supervision.Backoff);
        _checks = checks;
        _gate = gates.For(_endpoint);
        _settings = VncPolicySettings.From(_config);
        _policy = new VncFallbackPolicy(_settings);
        _createDesktop = createDesktop ?? (() => new VncDesktop(_config, _paths, _passwordFile, _logger));
    }

    /// <summary>
    /// A reload that changed only vnc.mode (always/fallback) or vnc.fallback.*: the running desktop, its connected admins and
    /// an admin's override stay; the loop decides with the new settings from its next step on.
    /// </summary>
    public void UpdatePolicy(object policy) => _inbox.Writer.TryWrite(new PolicyInput((VncPolicySettings)policy));

    /// <summary>Hands the command to the loop and waits for its answer (bounded: see <see cref="CommandTimeout"/>). Thread-safe.</summary>
    public async Task<VncCommandOutcome> ApplyAsync(VncCommand command)
    {
        ArgumentNullException.ThrowIfNull(command);
        var done = new TaskCompletionSource<VncCommandOutcome>(TaskCreationOptions.RunContinuationsAsynchronously);
        _inbox.Writer.TryWrite(new CommandInput(command, done));
        try
        {
            return await done.Task.WaitAsync(CommandTimeout, _time).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // The loop is not running (between attempts, after a failure): the command stays queued and is applied when the
            // next attempt starts; the admin is told so rather than left waiting.
            return new VncCommandOutcome(false,
                $"vnc/desktop did not take the command within {Durations.Format(CommandTimeout)} (it is restarting); it is applied when vnc/desktop runs again — see bastionctl vnc status");
        }
    }

    public async Task RunAsync(IComponentContext context, CancellationToken cancellationToken)
    {
        _time = context.Time;
        var time = context.Time;
        SetStaticDetails(context);
        var password = LoadPassword();
        var desktop = _createDesktop();
        // One schedule type and rule for both children (the supervisor's backoff, reset after a run that lasted long
        // enough); Xvnc counts as healthy after supervision.backoff.resetAfter, a session (which ends normally when login
        // gives up) after SessionRanLongEnough.
        var run = new Run(context, desktop, password)
        {
            XvncRestart = new RestartSchedule(_backoff, _backoff.Config.ResetAfter),
            SessionRestart = new RestartSchedule(_backoff, SessionRanLongEnough),
        };
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
            run.Subscription?.Dispose();
            // Stopping (daemon stop, reload) or failing: nothing of the desktop outlives the attempt. An admin working in it
            // loses the session: say so, so that the cut-off is explained in the log.
            if (_gate.Clients is > 0 and var clients)
            {
                VncLog.StoppedUnderClients(_logger, Clients(clients));
            }
            _gate.Close(GateClosed.DesktopStopped);
            await desktop.StopAsync(time).ConfigureAwait(false);
            SetProcessDetails(context, desktop);
        }
    }

    /// <summary>Where Xvnc is in its life (one attempt); with the probe and the session it gives the <see cref="DesktopPhase"/>.</summary>
    private enum XvncPhase
    {
        /// <summary>The desktop is lowered: no Xvnc.</summary>
        Lowered,

        /// <summary>Raised; Xvnc is due to start (or starting).</summary>
        Starting,

        /// <summary>Raised; Xvnc could not start or exited: restarted when <see cref="Run.XvncStartDue"/> comes.</summary>
        Failing,

        /// <summary>Raised; Xvnc runs.</summary>
        Running,
    }

    /// <summary>The loop's own state (one attempt).</summary>
    private sealed class Run(IComponentContext context, IDesktop desktop, string password)
    {
        public IComponentContext Context { get; } = context;
        public IDesktop Desktop { get; } = desktop;
        public string Password { get; set; } = password;
        public XvncPhase Xvnc { get; set; } = XvncPhase.Lowered;
        public bool Raised => Xvnc != XvncPhase.Lowered;
        public DateTimeOffset? XvncStartDue { get; set; }
        public required RestartSchedule XvncRestart { get; init; }
        public long XvncRestarts { get; set; }
        public DateTimeOffset? SessionStartDue { get; set; }
        public required RestartSchedule SessionRestart { get; init; }
        public DateTimeOffset? ProbeDue { get; set; }
        public RfbProbeResult? Probe { get; set; }
        public string ProbeText { get; set; } = "-";

        /// <summary>While <see cref="XvncPhase.Failing"/>: why (shown in the reason).</summary>
        public string? Problem { get; set; }

        /// <summary>The check whose results feed the policy (fallback mode), and the subscription to it.</summary>
        public string? SubscribedCheck { get; set; }
        public IDisposable? Subscription { get; set; }

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
            Subscribe(run);
            var gateChanged = _gate.Changed;
            var now = time.GetUtcNow();
            var loggedIn = run.Raised ? desktop.LoggedInUser() : null;
            run.Context.SetDetail("loggedIn", loggedIn ?? "-");
            TakeInputs(run, now, loggedIn);
            var decision = _policy.Decide(now, run.Raised, _gate.Clients, loggedIn);
            if (decision.Raised && !run.Raised)
            {
                run.Xvnc = XvncPhase.Starting;
                run.XvncStartDue = now;
                run.XvncRestart.Reset();
                run.SessionRestart.Reset();
                run.Problem = null;
                VncLog.Raising(_logger, decision.Reason);
            }
            else if (!decision.Raised && run.Raised)
            {
                VncLog.Lowering(_logger, decision.Reason);
                _gate.Close(GateClosed.Lowered(decision));
                await desktop.StopAsync(time).ConfigureAwait(false);
                VncLog.Lowered(_logger, desktop.Display);
                run.Xvnc = XvncPhase.Lowered;
                run.XvncStartDue = run.SessionStartDue = run.ProbeDue = null;
                run.Probe = null;
                run.ProbeText = "-";
                run.Problem = null;
                run.SessionProblem = null;
            }
            if (!run.Raised)
            {
                _gate.Close(GateClosed.Lowered(decision));
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
            await WaitAsync(run, decision, gateChanged, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Takes everything in the inbox, in order: new settings, check results, commands (each answered here).</summary>
    private void TakeInputs(Run run, DateTimeOffset now, string? loggedIn)
    {
        while (_inbox.Reader.TryRead(out var input))
        {
            switch (input)
            {
                case PolicyInput p:
                    TakePolicy(p.Settings);
                    break;
                case CheckInput c:
                    TakeCheckResult(c.Result);
                    break;
                case CommandInput c:
                    c.Done.TrySetResult(Apply(c.Command, run, now, loggedIn));
                    break;
            }
        }
    }

    private void TakePolicy(VncPolicySettings settings)
    {
        var old = _settings;
        try
        {
            _policy.Reconfigure(settings);
        }
        catch (ArgumentException e)
        {
            // The config validator refuses such settings before a reload gets here; should one slip through, the old
            // settings stay (a policy change is never worth a crash of the desktop).
            VncLog.PolicyRefused(_logger, e.Message);
            return;
        }
        _settings = settings;
        if (old.Check != settings.Check || old.Mode != settings.Mode)
        {
            _lastCheck = null; // the loop subscribes to the (new) check and replays its last result
            _replayed = false;
        }
        VncLog.PolicyUpdated(_logger, ModeText(settings.Mode), settings.Check ?? "-", settings.Failures, Durations.Format(settings.Grace));
    }

    private void TakeCheckResult(CheckResult result)
    {
        if (_settings.Mode != VncMode.Fallback || result.Check != _settings.Check)
        {
            return; // a result of the check before a reload changed it, delivered late
        }
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
            var count = _replayed ? 1 : Math.Clamp(result.ConsecutiveFailures, 1, _settings.Failures);
            for (var i = 0; i < count; i++)
            {
                _policy.ProbeFailed(result.At, result.Text);
            }
        }
        _replayed = true;
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
                var ranLongEnough = run.SessionRestart.RanLongEnough(time.GetUtcNow());
                var delay = run.SessionRestart.Ended(time.GetUtcNow());
                // A session that ends at once is broken (a wrong command): its last words say why.
                var exit = ranLongEnough || session.LastLines.Count == 0
                    ? session.ExitDescription
                    : $"{session.ExitDescription} right after starting: {session.LastLines[^1]}";
                VncLog.SessionExited(_logger, session.Pid, exit, Durations.Format(delay));
                if (run.SessionRestart.QuickEnds >= 3)
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
            if (desktop.Session is { HasExited: false } && run.SessionRestart.RanLongEnough(time.GetUtcNow()))
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
        if (run.Xvnc == XvncPhase.Starting)
        {
            context.ReportDegraded($"{decision.Reason}; starting Xvnc on :{run.Desktop.Display}");
        }
        run.XvncStartDue = null;
        try
        {
            run.Password = ReadPasswordForProbe(run.Password);
            var probe = await desktop.StartXvncAsync(run.Password, time, cancellationToken).ConfigureAwait(false);
            run.XvncRestart.Started(time.GetUtcNow());
            run.Xvnc = XvncPhase.Running;
            run.Problem = null;
            SetProbe(run, probe);
            run.ProbeDue = time.GetUtcNow() + ProbeInterval;
            run.SessionStartDue = time.GetUtcNow();
            VncLog.Raised(_logger, desktop.Display, _config.Geometry, desktop.Xvnc!.Pid, _endpoint);
            _gate.Open();
            await WaitForEndpointAsync(time, cancellationToken).ConfigureAwait(false);
        }
        catch (DesktopStartException e)
        {
            await desktop.StopAsync(time).ConfigureAwait(false); // a half-started Xvnc is not left behind
            var delay = run.XvncRestart.Ended(time.GetUtcNow());
            run.XvncStartDue = time.GetUtcNow() + delay;
            run.Xvnc = XvncPhase.Failing;
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

    private async Task XvncExitedAsync(Run run, IDesktopProcess dead, CancellationToken cancellationToken)
    {
        var time = run.Context.Time;
        dead.Flush();
        var exit = dead.ExitDescription;
        var delay = run.XvncRestart.Ended(time.GetUtcNow());
        run.Desktop.ForgetXvnc();
        // Nothing to relay to until the new Xvnc answers: the endpoint stops listening meanwhile (its clients are gone with
        // Xvnc anyway), rather than accepting admins only to fail on the socket.
        _gate.Close(GateClosed.XvncRestarting(exit));
        await run.Desktop.StopSessionAsync(time).ConfigureAwait(false); // it lost its display anyway
        // The probe, once more, so status and log show the outage as a client would see it.
        SetProbe(run, await run.Desktop.ProbeAsync(run.Password, time, cancellationToken).ConfigureAwait(false));
        run.XvncRestarts++;
        run.XvncStartDue = time.GetUtcNow() + delay;
        run.ProbeDue = null;
        run.Xvnc = XvncPhase.Failing;
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
            run.SessionRestart.Started(time.GetUtcNow());
        }
        catch (DesktopStartException e)
        {
            var delay = run.SessionRestart.Ended(time.GetUtcNow());
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

    /// <summary>Where the desktop is, derived in one place from the loop's state; status shows it as detail <c>phase</c>.</summary>
    private DesktopPhase PhaseOf(Run run) =>
        run.Xvnc == XvncPhase.Lowered ? DesktopPhase.Lowered
        : run.Xvnc == XvncPhase.Failing ? DesktopPhase.XvncFailing
        : run.Xvnc == XvncPhase.Starting ? DesktopPhase.StartingXvnc
        : run.Probe is not { Health: RfbHealth.Up } ? DesktopPhase.NotAnswering
        : run.SessionProblem is not null ? DesktopPhase.SessionFailing
        : _sandboxWarning is not null ? DesktopPhase.UpSandboxed
        : DesktopPhase.Up;

    private void Report(Run run, VncDecision decision)
    {
        var context = run.Context;
        var desktop = run.Desktop;
        var phase = PhaseOf(run);
        context.SetDetail("phase", phase.ToString());
        var serving = _gate.Serving is { } s ? $"tls/{_endpoint} {s}" : $"tls/{_endpoint} not serving yet";
        var screen = $"desktop :{desktop.Display} {_config.Geometry}";
        switch (phase)
        {
            case DesktopPhase.Lowered:
                context.ReportStandby(decision.Reason);
                break;
            case DesktopPhase.XvncFailing:
                context.ReportDegraded($"{decision.Reason}; {run.Problem}");
                break;
            case DesktopPhase.StartingXvnc:
                context.ReportDegraded($"{decision.Reason}; starting Xvnc on :{desktop.Display}");
                break;
            case DesktopPhase.NotAnswering:
                context.ReportDegraded($"{decision.Reason}; {screen} does not answer: probe {run.ProbeText}");
                break;
            case DesktopPhase.SessionFailing:
                context.ReportDegraded($"{decision.Reason}; {screen} up but {run.SessionProblem}");
                break;
            case DesktopPhase.UpSandboxed:
                context.ReportDegraded($"{decision.Reason}; {screen} up; {serving}; but {_sandboxWarning}");
                break;
            default:
                context.ReportRunning($"{decision.Reason}; {screen} up; {serving}");
                break;
        }
    }

    private async Task WaitAsync(Run run, VncDecision decision, Task gateChanged, CancellationToken cancellationToken)
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
        using var delayCancel = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var waits = new List<Task> { gateChanged, _inbox.Reader.WaitToReadAsync(delayCancel.Token).AsTask() };
        if (run.Desktop.Xvnc is { } xvnc)
        {
            waits.Add(xvnc.Exited);
        }
        if (run.Desktop.Session is { } session)
        {
            waits.Add(session.Exited);
        }
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

    /// <summary>Follows the settings: the check that feeds the policy in fallback mode, none in always mode.</summary>
    private void Subscribe(Run run)
    {
        var settings = _settings;
        var wanted = settings.Mode == VncMode.Fallback ? settings.Check : null;
        if (wanted == run.SubscribedCheck)
        {
            return;
        }
        run.Subscription?.Dispose();
        run.Subscription = null;
        run.SubscribedCheck = wanted;
        if (wanted is not null)
        {
            run.Subscription = _checks.Subscribe(wanted, result => _inbox.Writer.TryWrite(new CheckInput(result)));
        }
    }
}

/// <summary>Where the emergency desktop is (one attempt of <c>vnc/desktop</c>); the words are made in Report.</summary>
internal enum DesktopPhase
{
    /// <summary>Lowered: nothing runs, the endpoint does not listen (Standby).</summary>
    Lowered,

    /// <summary>Raised; Xvnc is being started (Degraded until it answers).</summary>
    StartingXvnc,

    /// <summary>Raised; Xvnc could not be started or exited, and is restarted with backoff (Degraded, with why).</summary>
    XvncFailing,

    /// <summary>Raised; Xvnc runs but the RFB probe is not Up (Degraded).</summary>
    NotAnswering,

    /// <summary>Raised and answering, but the session keeps exiting or cannot start (Degraded).</summary>
    SessionFailing,

    /// <summary>Up, but the session inherits bastiond's sandbox (Degraded: an admin could repair little).</summary>
    UpSandboxed,

    /// <summary>Up and served (Running).</summary>
    Up,
}
