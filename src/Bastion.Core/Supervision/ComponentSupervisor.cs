using Microsoft.Extensions.Logging;

namespace Bastion.Supervision;

/// <summary>
/// Owns one component instance: runs its attempts in one loop, restarts it with backoff, and records
/// why it is in its state. A component's failure never escapes this class.
/// </summary>
public sealed partial class ComponentSupervisor : IDisposable
{
    private readonly Lock _lock = new();
    private readonly TimeProvider _time;
    private readonly BackoffPolicy _backoff;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stop = new();
    private readonly Dictionary<string, string> _details = new(StringComparer.Ordinal);
    private StateRecord _state;
    private long _starts;
    private int _generation;
    private Task? _loop;
    private string? _stopReason;
    private DateTimeOffset? _upSince;

    public ComponentSupervisor(ComponentSpec spec, TimeProvider time, ILogger logger, Func<double>? random = null)
    {
        Spec = spec;
        _time = time;
        _logger = logger;
        _backoff = new BackoffPolicy(spec.Backoff, random);
        Component = spec.Create();
        Instance = Guid.NewGuid().ToString("N")[..12];
        _state = new StateRecord(ComponentState.Stopped, "not started", time.GetUtcNow());
    }

    public ComponentSpec Spec { get; }
    public ComponentId Id => Spec.Id;
    public IComponent Component { get; }

    /// <summary>Changes only when a new supervisor (and component instance) is made, e.g. by a reload that changed it.</summary>
    public string Instance { get; }

    /// <summary>Raised after every transition, outside the lock: (supervisor, previous, current).</summary>
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
        get { lock (_lock) { return new Dictionary<string, string>(_details, StringComparer.Ordinal); } }
    }

    public void Start()
    {
        lock (_lock)
        {
            if (_loop is not null)
            {
                throw new InvalidOperationException($"{Id} already started");
            }
            _loop = Task.Run(RunLoopAsync);
        }
    }

    /// <summary>
    /// Stops the component and waits at most <paramref name="timeout"/> for it. A component that does not
    /// stop in time is abandoned (its attempt keeps its cancelled token) and reported as such.
    /// </summary>
    public async Task StopAsync(string reason, TimeSpan timeout)
    {
        Task? loop;
        lock (_lock)
        {
            loop = _loop;
            _stopReason ??= reason;
        }
        if (loop is null)
        {
            Transition(ComponentState.Stopped, reason);
            return;
        }
        // The timer exists before Stopping is announced, so whoever sees Stopping can rely on it (fake clocks in tests).
        var deadline = Task.Delay(timeout, _time);
        if (!loop.IsCompleted)
        {
            Transition(ComponentState.Stopping, reason);
        }
        await _stop.CancelAsync().ConfigureAwait(false);
        var finished = await Task.WhenAny(loop, deadline).ConfigureAwait(false) == loop;
        if (!finished)
        {
            LogStopTimedOut(_logger, Id, timeout);
            Transition(ComponentState.Stopped, $"{reason} (did not stop within {Config.Durations.Format(timeout)}; abandoned)");
        }
    }

    /// <summary>Call after <see cref="StopAsync"/>; an abandoned attempt keeps its (cancelled) token.</summary>
    public void Dispose() => _stop.Dispose();

    private async Task RunLoopAsync()
    {
        var token = _stop.Token;
        var attempt = 0;
        string? lastFailure = null;
        while (!token.IsCancellationRequested)
        {
            var generation = BeginAttempt(lastFailure);
            var context = new AttemptContext(this, generation);
            string failure;
            try
            {
                await Component.RunAsync(context, token).ConfigureAwait(false);
                failure = "stopped unexpectedly";
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
                break;
            }
            catch (ComponentFailureException e)
            {
                failure = e.Message;
            }
#pragma warning disable CA1031 // A component failure of any kind becomes a state with a reason, never a host crash.
            catch (Exception e)
#pragma warning restore CA1031
            {
                failure = $"crashed: {e.GetType().Name}: {e.Message}";
                LogCrashed(_logger, Id, e);
            }
            var upFor = EndAttempt(generation);
            if (token.IsCancellationRequested)
            {
                break;
            }
            if (_backoff.EarnsReset(upFor))
            {
                attempt = 0;
            }
            var delay = _backoff.NextDelay(attempt);
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
                break;
            }
        }
        string stopReason;
        lock (_lock)
        {
            stopReason = _stopReason ?? "stopped";
        }
        Transition(ComponentState.Stopped, stopReason);
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

    /// <summary>Ends an attempt; returns how long it had been continuously up (Running or Degraded).</summary>
    private TimeSpan EndAttempt(int generation)
    {
        lock (_lock)
        {
            var upFor = _upSince is { } since ? _time.GetUtcNow() - since : TimeSpan.Zero;
            _upSince = null;
            if (_generation == generation)
            {
                _generation++; // late reports from this attempt are ignored from now on
            }
            return upFor;
        }
    }

    private void Report(int generation, ComponentState state, string reason)
    {
        lock (_lock)
        {
            if (generation != _generation || _stop.IsCancellationRequested)
            {
                return;
            }
            if (state is ComponentState.Running or ComponentState.Degraded)
            {
                _upSince ??= _time.GetUtcNow();
            }
            else
            {
                _upSince = null;
            }
        }
        Transition(state, reason);
    }

    private void SetDetail(int generation, string key, string value)
    {
        lock (_lock)
        {
            if (generation == _generation)
            {
                _details[key] = value;
            }
        }
    }

    private void Transition(ComponentState state, string reason)
    {
        StateRecord previous;
        StateRecord current;
        lock (_lock)
        {
            previous = _state;
            if (previous.State == state && previous.Reason == reason)
            {
                return;
            }
            // Stopped is final for this instance: a late report must not resurrect it.
            if (previous.State == ComponentState.Stopped && _loop is not null && _loop.IsCompleted)
            {
                return;
            }
            current = new StateRecord(state, reason, previous.State == state ? previous.Since : _time.GetUtcNow());
            _state = current;
        }
        LogTransition(Id, previous, current);
        StateChanged?.Invoke(this, previous, current);
    }

    private void LogTransition(ComponentId id, StateRecord previous, StateRecord current)
    {
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
        public void ReportRunning(string reason) => owner.Report(generation, ComponentState.Running, reason);
        public void ReportDegraded(string reason) => owner.Report(generation, ComponentState.Degraded, reason);
        public void ReportFailed(string reason) => owner.Report(generation, ComponentState.Failed, reason);
        public void SetDetail(string key, string value) => owner.SetDetail(generation, key, value);
    }

    [LoggerMessage(EventId = LogEvents.ComponentTransition, Level = LogLevel.Information, Message = "{Component}: {From} -> {To}: {Reason}")]
    private static partial void LogTransitionInfo(ILogger logger, ComponentId component, ComponentState from, ComponentState to, string reason);

    [LoggerMessage(EventId = LogEvents.ComponentTransition, Level = LogLevel.Warning, Message = "{Component}: {From} -> {To}: {Reason}")]
    private static partial void LogTransitionWarning(ILogger logger, ComponentId component, ComponentState from, ComponentState to, string reason);

    [LoggerMessage(EventId = LogEvents.ComponentCrashed, Level = LogLevel.Error, Message = "{Component}: attempt crashed")]
    private static partial void LogCrashed(ILogger logger, ComponentId component, Exception exception);

    [LoggerMessage(EventId = LogEvents.ComponentStopTimedOut, Level = LogLevel.Warning, Message = "{Component}: did not stop within {Timeout}; abandoning it")]
    private static partial void LogStopTimedOut(ILogger logger, ComponentId component, TimeSpan timeout);
}
