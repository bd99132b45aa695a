namespace Bastion.Daemon.Checks;

/// <summary>One probe of a <c>checks:</c> entry: whether it passed, the text shown in status, when, and the failures in a row so far.</summary>
public sealed record CheckResult(string Check, bool Ok, string Text, DateTimeOffset At, int ConsecutiveFailures);

/// <summary>
/// Every check's probe outcomes, daemon-wide (one per daemon, held by <see cref="Components.DaemonRuntime"/> across reloads):
/// checks publish each probe, the emergency desktop subscribes to the check that watches sshd. It outlives components because
/// a reload may restart the check without the VNC component or the other way round; both must still meet here. Subscribers get the last result at once
/// (so a restarted VNC component does not start from nothing) and then every new one, on the publishing check's thread.
/// </summary>
public sealed class CheckResults
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, (CheckResult Result, long Sequence)> _last = new(StringComparer.Ordinal);
    private readonly List<Subscription> _subscribers = [];
    private long _sequence;

    public void Publish(CheckResult result)
    {
        Subscription[] targets;
        long sequence;
        lock (_gate)
        {
            sequence = ++_sequence;
            _last[result.Check] = (result, sequence);
            targets = [.. _subscribers.Where(s => s.Check == result.Check)];
        }
        foreach (var target in targets)
        {
            target.Deliver(result, sequence);
        }
    }

    public CheckResult? LastOf(string check)
    {
        lock (_gate)
        {
            return _last.TryGetValue(check, out var last) ? last.Result : null;
        }
    }

    /// <summary>Calls <paramref name="handler"/> with the last result (if any) and every later one, until disposed.</summary>
    public IDisposable Subscribe(string check, Action<CheckResult> handler)
    {
        var subscription = new Subscription(this, check, handler);
        (CheckResult Result, long Sequence)? last = null;
        lock (_gate)
        {
            _subscribers.Add(subscription);
            if (_last.TryGetValue(check, out var found))
            {
                last = found;
            }
        }
        if (last is { } replay)
        {
            subscription.Deliver(replay.Result, replay.Sequence);
        }
        return subscription;
    }

    /// <summary>Forgets the last results of checks not in <paramref name="checks"/> (removed from the config).</summary>
    public void Retain(IEnumerable<string> checks)
    {
        var keep = checks.ToHashSet(StringComparer.Ordinal);
        lock (_gate)
        {
            foreach (var name in _last.Keys.Where(name => !keep.Contains(name)).ToList())
            {
                _last.Remove(name);
            }
        }
    }

    private void Unsubscribe(Subscription subscription)
    {
        lock (_gate)
        {
            _subscribers.Remove(subscription);
        }
    }

    private sealed class Subscription(CheckResults owner, string check, Action<CheckResult> handler) : IDisposable
    {
        private readonly Lock _order = new();
        private long _delivered;
        private bool _disposed;

        public string Check { get; } = check;

        /// <summary>In order, once each: a result that raced with the replay of the last one is not delivered twice or backwards.</summary>
        public void Deliver(CheckResult result, long sequence)
        {
            lock (_order)
            {
                if (_disposed || sequence <= _delivered)
                {
                    return;
                }
                _delivered = sequence;
                handler(result);
            }
        }

        public void Dispose()
        {
            lock (_order)
            {
                _disposed = true;
            }
            owner.Unsubscribe(this);
        }
    }
}
