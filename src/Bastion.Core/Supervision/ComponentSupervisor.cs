using Microsoft.Extensions.Logging;

namespace Bastion.Supervision;

/// <summary>
/// Owns one component instance: runs its attempts in one loop, restarts it with backoff, and records
/// why it is in its state. Nothing a component does — throwing, hanging, reporting late — escapes this class
/// or corrupts its state: every state write and its guard happen in one critical section.
/// </summary>
public sealed partial class ComponentSupervisor : IDisposable
{
    /// <summary>Task.Delay takes at most ~49.7 days; no wait here needs more than a day.</summary>
    private static readonly TimeSpan LongestWait = TimeSpan.FromDays(1);

    private readonly Lock _lock = new();

    // Held from a transition's write to the end of its StateChanged: subscribers (the D-Bus signal, the CLI's watch)
    // see the transitions in the order they were made, so the last signal is the state the component is in. Without
    // it, a report made on the component's thread could be raised after a stop made on another.
    private readonly Lock _notifyLock = new();
    private readonly TimeProvider _time;
    private readonly BackoffPolicy _backoff;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stop = new();
    private readonly Dictionary<string, string> _details = new(StringComparer.Ordinal);
    // The last copy handed out, until a detail changes: 200 idle tunnels read every few seconds (status.json, metrics)
    // share one copy each instead of making one per read, which the GC then promotes and keeps (BENCHMARKS.md).
    private IReadOnlyDictionary<string, string>? _detailsCopy;
    private ComponentSpec _spec;
    private StateRecord _state;
    private IComponent? _component;
    private long _starts;
    private int _generation;
    private bool _started;
    private bool _stopping;
    private bool _final;
    private Task? _loop;
    private string? _stopReason;
    private DateTimeOffset? _upSince;

    public ComponentSupervisor(ComponentSpec spec, TimeProvider time, ILogger logger, Func<double>? random = null)
    {
        _spec = spec;
        Id = spec.Id;
        _time = time;
        _logger = logger;
        _backoff = new BackoffPolicy(spec.Backoff, random);
        Instance = Guid.NewGuid().ToString("N")[..12];
        _state = new StateRecord(ComponentState.Stopped, "not started", time.GetUtcNow());
    }

    /// <summary>The spec it runs; replaced (same id, definition and backoff) by <see cref="UpdatePolicy"/>.</summary>
    public ComponentSpec Spec
    {
        get { lock (_lock) { return _spec; } }
        private set { lock (_lock) { _spec = value; } }
    }

    public ComponentId Id { get; }

    /// <summary>
    /// Takes a spec that differs from <see cref="Spec"/> only in its policy: the running component (an
    /// <see cref="ILivePolicy"/>) gets the new policy, and later instances (a restart) are made from the new spec.
    /// False — nothing changed — when the spec is not the same process or the component cannot take a policy live
    /// (the caller then replaces it). A component not created yet needs nothing more: it will be made from the new spec.
    /// </summary>
    public bool UpdatePolicy(ComponentSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        IComponent? component;
        lock (_lock)
        {
            if (!_spec.SameExceptPolicy(spec) || _component is not (null or ILivePolicy))
            {
                return false;
            }
            _spec = spec;
            component = _component;
        }
        (component as ILivePolicy)?.UpdatePolicy(spec.Policy!);
        return true;
    }

    /// <summary>The component instance, created by the first attempt (a factory that throws is a failed attempt, retried).</summary>
    public IComponent? Component
    {
        get { lock (_lock) { return _component; } }
    }

    /// <summary>Changes only when a new supervisor (and component instance) is made, e.g. by a reload that changed it.</summary>
    public string Instance { get; }

    /// <summary>
    /// Raised after every transition, in the order of the transitions, outside the state lock: (supervisor, previous,
    /// current). Handlers must not block (they run while the next transition waits); their exceptions are logged and dropped.
    /// </summary>
    public event Action<ComponentSupervisor, StateRecord, StateRecord>? StateChanged;

    public StateRecord State
    {
        get { lock (_lock) { return _state; } }
    }

    /// <summary>How many attempts have been started.</summary>
    public long Starts
    {
        get { lock (_lock) { return _starts; } }
    }

    public IReadOnlyDictionary<string, string> Details
    {
        get
        {
            lock (_lock)
            {
                return _detailsCopy ??= new System.Collections.ObjectModel.ReadOnlyDictionary<string, string>(
                    new Dictionary<string, string>(_details, StringComparer.Ordinal));
            }
        }
    }

    public void Start()
    {
        lock (_lock)
        {
            if (_started)
            {
                throw new InvalidOperationException($"{Id} already started");
            }
            _started = true;
        }
        // Starting at once, so a status taken right after Start (READY's STATUS=) does not say "not started".
        Transition(ComponentState.Starting, "starting");
        var loop = Task.Run(RunLoopAsync);
        lock (_lock)
        {
            _loop = loop;
        }
    }

    /// <summary>
    /// Stops the component and waits at most <paramref name="timeout"/> for it. Never throws. A component that
    /// does not stop in time (or whose cancellation callbacks block) is abandoned and reported as such.
    /// </summary>
    public async Task StopAsync(string reason, TimeSpan timeout)
    {
        timeout = timeout < TimeSpan.Zero ? TimeSpan.Zero : timeout > LongestWait ? LongestWait : timeout;
        Task? loop;
        bool first;
        lock (_lock)
        {
            loop = _loop;
            _stopReason ??= reason;
            first = !_stopping;
            _stopping = true;
        }
        if (loop is null)
        {
            Transition(ComponentState.Stopped, reason, final: true);
            return;
        }
        // The timer exists before Stopping is announced, so whoever sees Stopping can rely on it (fake clocks in tests).
        var deadline = Task.Delay(timeout, _time);
        if (!loop.IsCompleted)
        {
            Transition(ComponentState.Stopping, reason);
        }
        if (first)
        {
            // Not awaited: a cancellation callback that blocks or throws must not hold up or break the stop.
            _ = _stop.CancelAsync().ContinueWith(
                t => LogCancelCallbackFailed(_logger, Id, t.Exception!),
                CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
        if (await Task.WhenAny(loop, deadline).ConfigureAwait(false) != loop)
        {
            LogStopTimedOut(_logger, Id, timeout);
            Transition(ComponentState.Stopped, $"{reason} (did not stop within {Config.Durations.Format(timeout)}; abandoned)", final: true);
            return;
        }
        Transition(ComponentState.Stopped, StopReason(), final: true);
    }

    /// <summary>Releases the stop token once the loop has ended; an abandoned attempt keeps its (cancelled) token.</summary>
    public void Dispose()
    {
        bool done;
        lock (_lock)
        {
            done = _loop is null || _loop.IsCompleted;
        }
        if (done)
        {
            _stop.Dispose();
        }
    }

    private string StopReason()
    {
        lock (_lock)
        {
            return _stopReason ?? "stopped";
        }
    }

    private async Task RunLoopAsync()
    {
        try
        {
            await RunAttemptsAsync(_stop.Token).ConfigureAwait(false);
            Transition(ComponentState.Stopped, StopReason(), final: true);
        }
#pragma warning disable CA1031 // Last guard: a fault in the supervision itself becomes a state, never an unobserved task.
        catch (Exception e)
#pragma warning restore CA1031
        {
            var type = e.GetType().Name;
            LogLoopCrashed(_logger, Id, type);
            LogCrashDetails(e);
            // Never the exception's message in a public reason: it may quote a value (a key, a password) verbatim.
            Transition(ComponentState.Failed,
                $"supervision failed ({type}); not restarted — reload a changed config or restart the daemon",
                final: true);
        }
    }

    private async Task RunAttemptsAsync(CancellationToken token)
    {
        var attempt = 0;
        string? lastFailure = null;
        while (!token.IsCancellationRequested)
        {
            var generation = BeginAttempt(lastFailure);
            var context = new AttemptContext(this, generation);
            string failure;
            try
            {
                await CreateComponent().RunAsync(context, token).ConfigureAwait(false);
                failure = "stopped unexpectedly";
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
                return;
            }
            catch (ComponentFailureException e)
            {
                failure = e.Message;
            }
#pragma warning disable CA1031 // A component failure of any kind becomes a state with a reason, never a host crash.
            catch (Exception e)
#pragma warning restore CA1031
            {
                // The reason is public (status file, D-Bus signals): a fixed text and the type, never the message,
                // which may quote a secret verbatim. The details go to the debug log, redacted.
                var type = e.GetType().Name;
                failure = $"crashed: {type} (details in the debug log)";
                LogCrashed(_logger, Id, type);
                LogCrashDetails(e);
            }
            var upFor = EndAttempt(generation);
            if (token.IsCancellationRequested)
            {
                return;
            }
            if (_backoff.EarnsReset(upFor))
            {
                attempt = 0;
            }
            var delay = _backoff.NextDelay(attempt);
            delay = delay > LongestWait ? LongestWait : delay;
            attempt++;
            lastFailure = failure;
            // The timer exists before Backoff is announced (see StopAsync).
            var wait = Task.Delay(delay, _time, token);
            Transition(ComponentState.Backoff, $"{failure}; retrying in {Config.Durations.Format(Round(delay))}");
            try
            {
                await wait.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private IComponent CreateComponent()
    {
        lock (_lock)
        {
            return _component ??= _spec.Create();
        }
    }

    private static TimeSpan Round(TimeSpan delay) =>
        delay < TimeSpan.FromSeconds(1)
            ? TimeSpan.FromMilliseconds(Math.Round(delay.TotalMilliseconds))
            : TimeSpan.FromSeconds(Math.Round(delay.TotalSeconds, MidpointRounding.AwayFromZero));

    private int BeginAttempt(string? lastFailure)
    {
        int generation;
        lock (_lock)
        {
            generation = ++_generation;
            _starts++;
            _upSince = null;
        }
        Transition(ComponentState.Starting, lastFailure is null ? "starting" : $"restarting after: {lastFailure}");
        return generation;
    }

    /// <summary>Ends an attempt: later reports from it are ignored. Returns how long it had been continuously up.</summary>
    private TimeSpan EndAttempt(int generation)
    {
        lock (_lock)
        {
            var upFor = _upSince is { } since ? _time.GetUtcNow() - since : TimeSpan.Zero;
            _upSince = null;
            if (_generation == generation)
            {
                _generation++;
            }
            return upFor;
        }
    }

    private void SetDetail(int generation, string key, string value)
    {
        lock (_lock)
        {
            if (generation == _generation && !_stopping)
            {
                if (!_details.TryGetValue(key, out var old) || !string.Equals(old, value, StringComparison.Ordinal))
                {
                    _details[key] = value;
                    _detailsCopy = null;
                }
            }
        }
    }

    /// <summary>
    /// Writes a state. <paramref name="reportedBy"/> is the attempt that reports it (null for the supervisor's own
    /// transitions): a report from an ended attempt, or during a stop, is dropped — checked in the same critical
    /// section as the write, so a late report can never overwrite Backoff, Stopping or Stopped.
    /// <paramref name="final"/> marks the last state of this instance; nothing is written after it.
    /// </summary>
    private void Transition(ComponentState state, string reason, int? reportedBy = null, bool final = false)
    {
        lock (_notifyLock)
        {
            TransitionInOrder(state, reason, reportedBy, final);
        }
    }

    private void TransitionInOrder(ComponentState state, string reason, int? reportedBy, bool final)
    {
        StateRecord previous;
        StateRecord current;
        lock (_lock)
        {
            if (_final || (reportedBy is { } g && (g != _generation || _stopping)))
            {
                return;
            }
            if (reportedBy is not null)
            {
                if (state is ComponentState.Running or ComponentState.Degraded or ComponentState.Standby)
                {
                    _upSince ??= _time.GetUtcNow();
                }
                else
                {
                    _upSince = null;
                }
            }
            _final = final;
            previous = _state;
            if (previous.State == state && previous.Reason == reason)
            {
                return;
            }
            current = new StateRecord(state, reason, previous.State == state ? previous.Since : _time.GetUtcNow());
            _state = current;
        }
        LogTransition(Id, previous, current);
        try
        {
            StateChanged?.Invoke(this, previous, current);
        }
#pragma warning disable CA1031 // A subscriber's bug must not stop the component's supervision.
        catch (Exception e)
#pragma warning restore CA1031
        {
            LogSubscriberFailed(_logger, Id, e);
        }
    }

    private void LogCrashDetails(Exception e)
    {
        if (_logger.IsEnabled(LogLevel.Debug))
        {
            var details = SecretRedaction.Redact(e.ToString());
            LogCrashDetails(_logger, Id, details);
        }
    }

    private void LogTransition(ComponentId id, StateRecord previous, StateRecord current)
    {
        if (previous.State == ComponentState.Running && current.State == ComponentState.Running)
        {
            // Still up, only the words changed (e.g. a phone-home endpoint's attempt count): not worth a line per change.
            LogReasonChanged(_logger, id, current.State, current.Reason);
            return;
        }
        switch (current.State)
        {
            case ComponentState.Degraded:
            case ComponentState.Backoff:
            case ComponentState.Failed:
                LogTransitionWarning(_logger, id, previous.State, current.State, current.Reason);
                break;
            default:
                LogTransitionInfo(_logger, id, previous.State, current.State, current.Reason);
                break;
        }
    }

    private sealed class AttemptContext(ComponentSupervisor owner, int generation) : IComponentContext
    {
        public TimeProvider Time => owner._time;
        public void ReportRunning(string reason) => owner.Transition(ComponentState.Running, reason, generation);
        public void ReportDegraded(string reason) => owner.Transition(ComponentState.Degraded, reason, generation);
        public void ReportFailed(string reason) => owner.Transition(ComponentState.Failed, reason, generation);
        public void ReportStandby(string reason) => owner.Transition(ComponentState.Standby, reason, generation);
        public void SetDetail(string key, string value) => owner.SetDetail(generation, key, value);
    }

    [LoggerMessage(EventId = LogEvents.ComponentTransition, Level = LogLevel.Information, Message = "{Component}: {From} -> {To}: {Reason}")]
    private static partial void LogTransitionInfo(ILogger logger, ComponentId component, ComponentState from, ComponentState to, string reason);

    [LoggerMessage(EventId = LogEvents.ComponentTransition, Level = LogLevel.Debug, Message = "{Component}: still {State}: {Reason}")]
    private static partial void LogReasonChanged(ILogger logger, ComponentId component, ComponentState state, string reason);

    [LoggerMessage(EventId = LogEvents.ComponentTransition, Level = LogLevel.Warning, Message = "{Component}: {From} -> {To}: {Reason}")]
    private static partial void LogTransitionWarning(ILogger logger, ComponentId component, ComponentState from, ComponentState to, string reason);

    [LoggerMessage(EventId = LogEvents.ComponentCrashed, Level = LogLevel.Error, Message = "{Component}: attempt crashed with {ExceptionType}; details at debug level")]
    private static partial void LogCrashed(ILogger logger, ComponentId component, string exceptionType);

    [LoggerMessage(EventId = LogEvents.ComponentCrashed, Level = LogLevel.Debug, Message = "{Component}: crash details (redacted): {Details}")]
    private static partial void LogCrashDetails(ILogger logger, ComponentId component, string details);

    [LoggerMessage(EventId = LogEvents.ComponentStopTimedOut, Level = LogLevel.Warning, Message = "{Component}: did not stop within {Timeout}; abandoning it")]
    private static partial void LogStopTimedOut(ILogger logger, ComponentId component, TimeSpan timeout);

    [LoggerMessage(EventId = LogEvents.ComponentSupervisionFailed, Level = LogLevel.Critical, Message = "{Component}: supervision loop failed with {ExceptionType}; the component is no longer supervised (details at debug level)")]
    private static partial void LogLoopCrashed(ILogger logger, ComponentId component, string exceptionType);

    [LoggerMessage(EventId = LogEvents.ComponentCancelCallbackFailed, Level = LogLevel.Warning, Message = "{Component}: a cancellation callback failed while stopping")]
    private static partial void LogCancelCallbackFailed(ILogger logger, ComponentId component, Exception exception);

    [LoggerMessage(EventId = LogEvents.ComponentSubscriberFailed, Level = LogLevel.Error, Message = "{Component}: a state-change subscriber failed")]
    private static partial void LogSubscriberFailed(ILogger logger, ComponentId component, Exception exception);
}
