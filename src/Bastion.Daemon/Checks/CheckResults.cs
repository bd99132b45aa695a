namespace Bastion.Daemon.Checks;

/// <summary>One probe of a <c>checks:</c> entry: whether it passed, the text shown in status, when, and the failures in a row so far.</summary>
public sealed record CheckResult(string Check, bool Ok, string Text, DateTimeOffset At, int ConsecutiveFailures);

/// <summary>
/// Every check's probe outcomes, daemon-wide (one per process, across reloads, like the tor runtime): checks publish each
/// probe, the emergency desktop subscribes to the check that watches sshd. Static because a reload may restart the check
/// without the VNC component or the other way round; both must still meet here. Subscribers get the last result at once
/// (so a restarted VNC component does not start from nothing) and then every new one, on the publishing check's thread.
/// </summary>
public static class CheckResults
{
    private static readonly Lock Gate = new();
    private static readonly Dictionary<string, (CheckResult Result, long Sequence)> Last = new(StringComparer.Ordinal);
    private static readonly List<Subscription> Subscribers = [];
    private static long _sequence;

    public static void Publish(CheckResult result)
    {
        Subscription[] targets;
        long sequence;
        lock (Gate)
        {
            sequence = ++_sequence;
            Last[result.Check] = (result, sequence);
            targets = [.. Subscribers.Where(s => s.Check == result.Check)];
        }
        foreach (var target in targets)
        {
            target.Deliver(result, sequence);
        }
    }

    public static CheckResult? LastOf(string check)
    {
        lock (Gate)
        {
            return Last.TryGetValue(check, out var last) ? last.Result : null;
        }
    }

    /// <summary>Calls <paramref name="handler"/> with the last result (if any) and every later one, until disposed.</summary>
    public static IDisposable Subscribe(string check, Action<CheckResult> handler)
    {
        var subscription = new Subscription(check, handler);
        (CheckResult Result, long Sequence)? last = null;
        lock (Gate)
        {
            Subscribers.Add(subscription);
            if (Last.TryGetValue(check, out var found))
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

    private sealed class Subscription(string check, Action<CheckResult> handler) : IDisposable
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
            lock (Gate)
            {
                Subscribers.Remove(this);
            }
        }
    }
}
