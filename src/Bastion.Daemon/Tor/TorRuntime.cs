using Bastion.Config;
using Bastion.Tor;

namespace Bastion.Daemon.Tor;

/// <summary>
/// A live, authenticated control connection to the tor the daemon uses, and that tor's SocksPort. Published by the tor
/// component; ends when tor (or the connection) goes — onion services then wait for the next session and add
/// themselves again.
/// </summary>
internal sealed class TorSession(TorControlConnection control, Endpoint socksPort, int generation)
{
    public TorControlConnection Control { get; } = control;
    public Endpoint SocksPort { get; } = socksPort;
    public int Generation { get; } = generation;

    /// <summary>Completes with a reason when this session is over.</summary>
    public Task<string> Ended => Control.Closed;
}

/// <summary>
/// What the tor component and the onion service components share inside the daemon (one per daemon, across reloads):
/// the current <see cref="TorSession"/>, or a reason why there is none.
/// </summary>
internal sealed class TorRuntime
{
    private readonly object _lock = new();
    private TorSession? _current;
    private TaskCompletionSource<TorSession> _next = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _generation;

    /// <summary>Why there is no session (shown by waiting onion services).</summary>
    public string WaitingReason { get; private set; } = "tor is not running yet";

    public int NextGeneration() => Interlocked.Increment(ref _generation);

    private TorHealth _health = new(TorHealthState.Bootstrapping, "tor is not running yet");

    /// <summary>What the tor component's last probe found; onion services show it instead of a stale "reachable".</summary>
    public TorHealth Health
    {
        get
        {
            lock (_lock)
            {
                return _health;
            }
        }
    }

    /// <summary>Raised (outside the lock) when <see cref="Health"/> changes state.</summary>
    public event Action<TorHealth>? HealthChanged;

    public void SetHealth(TorHealth health)
    {
        bool changed;
        lock (_lock)
        {
            changed = _health.State != health.State;
            _health = health;
        }
        if (changed)
        {
            HealthChanged?.Invoke(health);
        }
    }

    private readonly Dictionary<string, (int Generation, string Clients)> _applied = new(StringComparer.Ordinal);

    /// <summary>
    /// Records the authorized set a service was just added with in <paramref name="session"/>; returns the set it had
    /// before in the same session, or null when unknown (first add, or a new tor). A changed or unknown set means
    /// rendezvous circuits made under the old rules may still carry sessions: they must be closed.
    /// </summary>
    public string? ExchangeAppliedClients(TorSession session, string service, string clients)
    {
        lock (_lock)
        {
            var previous = _applied.TryGetValue(service, out var p) && p.Generation == session.Generation ? p.Clients : null;
            _applied[service] = (session.Generation, clients);
            return previous;
        }
    }

    public void Publish(TorSession session)
    {
        lock (_lock)
        {
            _current = session;
            _next.TrySetResult(session);
            // Later waiters get the current session directly, or (once it ended) wait for the one after it.
            _next = new(TaskCreationOptions.RunContinuationsAsynchronously);
        }
    }

    public void Withdraw(TorSession session, string reason)
    {
        lock (_lock)
        {
            if (_current == session)
            {
                _current = null;
            }
            WaitingReason = reason;
        }
    }

    public void SetWaitingReason(string reason)
    {
        lock (_lock)
        {
            if (_current is null)
            {
                WaitingReason = reason;
            }
        }
    }

    /// <summary>The current session, or waits for the next one.</summary>
    public Task<TorSession> WaitAsync(CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            return _current is { } s && !s.Ended.IsCompleted ? Task.FromResult(s) : _next.Task.WaitAsync(cancellationToken);
        }
    }
}
