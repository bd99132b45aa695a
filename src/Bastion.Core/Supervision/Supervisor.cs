using Microsoft.Extensions.Logging;

namespace Bastion.Supervision;

/// <summary>
/// All supervised components of the daemon, in declaration order. Applies a desired set as a diff
/// (unchanged components keep their instance, state and connections) and stops everything in reverse order.
/// Not thread-safe for mutation: the daemon's control loop is the only caller of <see cref="ApplyAsync"/>
/// and <see cref="StopAllAsync"/>; <see cref="Components"/> may be read from anywhere.
/// </summary>
public sealed partial class Supervisor
{
    private readonly TimeProvider _time;
    private readonly ILoggerFactory _loggers;
    private readonly ILogger _logger;
    private readonly Func<double>? _random;
    private volatile IReadOnlyList<ComponentSupervisor> _components = [];

    public Supervisor(TimeProvider time, ILoggerFactory loggers, Func<double>? random = null)
    {
        _time = time;
        _loggers = loggers;
        _logger = loggers.CreateLogger("Bastion.Supervisor");
        _random = random;
    }

    /// <summary>Raised after any component's transition (from that component's thread).</summary>
    public event Action<ComponentSupervisor, StateRecord, StateRecord>? StateChanged;

    public IReadOnlyList<ComponentSupervisor> Components => _components;

    /// <summary>How long a removed or changed component may take to stop during a reload.</summary>
    public TimeSpan StopTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Applies the desired set as a diff. Removed and changed components are stopped together, under one
    /// <see cref="StopTimeout"/>, so a reload takes at most that long however many it touches (the control loop,
    /// and with it the watchdog, waits for it). Never throws: stops are bounded and creation happens in the attempt.
    /// </summary>
    public async Task<ReloadPlan> ApplyAsync(IReadOnlyList<ComponentSpec> desired)
    {
        var current = _components;
        var plan = ReloadPlan.Diff([.. current.Select(c => c.Spec)], desired);
        var byId = current.ToDictionary(c => c.Id);
        var desiredById = desired.ToDictionary(s => s.Id);
        // A policy-only change goes to the running component; one that cannot take it live is replaced after all.
        var updated = new List<ComponentId>();
        var replaced = plan.Changed.ToList();
        foreach (var id in plan.Updated)
        {
            if (byId[id].UpdatePolicy(desiredById[id]))
            {
                LogUpdated(_logger, id);
                updated.Add(id);
            }
            else
            {
                replaced.Add(id);
            }
        }
        plan = plan with { Changed = replaced, Updated = updated };
        var changed = plan.Changed.ToHashSet();

        var stops = new List<Task>();
        foreach (var id in plan.Removed)
        {
            LogRemoved(_logger, id);
            stops.Add(StopAndForgetAsync(byId[id], "removed from config"));
        }
        foreach (var id in plan.Changed)
        {
            LogChanged(_logger, id);
            stops.Add(StopAndForgetAsync(byId[id], "changed in config; replaced"));
        }
        await Task.WhenAll(stops).ConfigureAwait(false);

        var next = new List<ComponentSupervisor>(desired.Count);
        var toStart = new List<ComponentSupervisor>();
        foreach (var spec in desired)
        {
            if (byId.TryGetValue(spec.Id, out var existing) && !changed.Contains(spec.Id))
            {
                next.Add(existing);
                continue;
            }
            if (!byId.ContainsKey(spec.Id))
            {
                LogAdded(_logger, spec.Id);
            }
            var supervisor = Create(spec);
            next.Add(supervisor);
            toStart.Add(supervisor);
        }
        _components = next;
        foreach (var supervisor in toStart)
        {
            supervisor.Start();
        }
        return plan;
    }

    /// <summary>
    /// Stops every component in reverse declaration order (what depends on others goes first), within
    /// <paramref name="timeout"/> overall. Once that budget is spent, the rest are stopped together with a short
    /// grace instead of one by one with nothing left.
    /// </summary>
    public async Task StopAllAsync(string reason, TimeSpan timeout)
    {
        var deadline = _time.GetUtcNow() + timeout;
        var order = _components.Reverse().ToList();
        var i = 0;
        for (; i < order.Count; i++)
        {
            var left = deadline - _time.GetUtcNow();
            if (left <= TimeSpan.Zero)
            {
                break;
            }
            await order[i].StopAsync(reason, left).ConfigureAwait(false);
        }
        if (i < order.Count)
        {
            await Task.WhenAll(order.Skip(i).Select(c => c.StopAsync(reason, OverrunGrace))).ConfigureAwait(false);
        }
    }

    /// <summary>What the components left when the stop budget runs out get, all together.</summary>
    public static readonly TimeSpan OverrunGrace = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Restarts one component on request: stops its instance (within <see cref="StopTimeout"/>, like a reload) and starts a
    /// new one from the same spec in the same place. A new instance rather than a new attempt of the old one, because a
    /// restart is what an admin asks for when a component is wedged: it gets a fresh object (no state carried over), a
    /// new <see cref="ComponentSupervisor.Instance"/> id, <see cref="ComponentSupervisor.Starts"/> from 1 and a backoff
    /// from the start. Returns the new supervisor, or null when there is no component with that id. Like
    /// <see cref="ApplyAsync"/>, only the control loop calls it. Never throws.
    /// </summary>
    public async Task<ComponentSupervisor?> RestartAsync(ComponentId id, string reason = "restarted on request")
    {
        var current = _components;
        var index = -1;
        for (var i = 0; i < current.Count; i++)
        {
            if (current[i].Id == id)
            {
                index = i;
                break;
            }
        }
        if (index < 0)
        {
            return null;
        }
        var old = current[index];
        LogRestarting(_logger, id, reason);
        await StopAndForgetAsync(old, reason).ConfigureAwait(false);
        var fresh = Create(old.Spec);
        var next = current.ToList();
        next[index] = fresh;
        _components = next;
        fresh.Start();
        return fresh;
    }

    private ComponentSupervisor Create(ComponentSpec spec)
    {
        var supervisor = new ComponentSupervisor(spec, _time, _loggers.CreateLogger("Bastion.Component." + spec.Id.Kind), _random);
        supervisor.StateChanged += OnStateChanged;
        return supervisor;
    }

    private async Task StopAndForgetAsync(ComponentSupervisor component, string reason)
    {
        await component.StopAsync(reason, StopTimeout).ConfigureAwait(false);
        component.StateChanged -= OnStateChanged;
        component.Dispose();
    }

    private void OnStateChanged(ComponentSupervisor component, StateRecord previous, StateRecord current) =>
        StateChanged?.Invoke(component, previous, current);

    [LoggerMessage(EventId = LogEvents.ComponentAdded, Level = LogLevel.Information, Message = "{Component}: added")]
    private static partial void LogAdded(ILogger logger, ComponentId component);

    [LoggerMessage(EventId = LogEvents.ComponentRemoved, Level = LogLevel.Information, Message = "{Component}: removed")]
    private static partial void LogRemoved(ILogger logger, ComponentId component);

    [LoggerMessage(EventId = LogEvents.ComponentRestarting, Level = LogLevel.Information, Message = "{Component}: restarting ({Reason})")]
    private static partial void LogRestarting(ILogger logger, ComponentId component, string reason);

    [LoggerMessage(EventId = LogEvents.ComponentPolicyUpdated, Level = LogLevel.Information, Message = "{Component}: policy changed; applied live (not restarted)")]
    private static partial void LogUpdated(ILogger logger, ComponentId component);

    [LoggerMessage(EventId = LogEvents.ComponentChanged, Level = LogLevel.Information, Message = "{Component}: changed; restarting it")]
    private static partial void LogChanged(ILogger logger, ComponentId component);
}
