namespace Bastion.Tls;

/// <summary>
/// Events per key in a sliding window (failed handshakes per address, wrong VNC passwords per certificate serial), in
/// bounded memory: at most <see cref="Capacity"/> keys, the least recently seen forgotten first — one at a time, so a flood
/// of new keys (rotating IPv6 addresses) pushes out only the oldest entries instead of wiping every count at once.
/// </summary>
public sealed class SlidingCounter<TKey>(int limit, TimeSpan window, int capacity, TimeProvider time)
    where TKey : notnull
{
    private sealed class Entry(TKey key)
    {
        public TKey Key { get; } = key;
        public Queue<DateTimeOffset> Times { get; } = new();
        public bool Reported { get; set; } // "limit reached" already said for the current run of being over it
    }

    private readonly Dictionary<TKey, LinkedListNode<Entry>> _entries = [];
    private readonly LinkedList<Entry> _recency = new(); // most recently seen first
    private readonly Lock _gate = new();

    public int Limit { get; } = limit;
    public TimeSpan Window { get; } = window;
    public int Capacity { get; } = capacity;

    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _entries.Count;
            }
        }
    }

    /// <summary>Records one event; true when this one reached the limit (log it once, not every event after).</summary>
    public bool Record(TKey key)
    {
        lock (_gate)
        {
            if (_entries.TryGetValue(key, out var node))
            {
                _recency.Remove(node);
                _recency.AddFirst(node);
            }
            else
            {
                while (_entries.Count >= Capacity && _recency.Last is { } oldest)
                {
                    _recency.RemoveLast();
                    _entries.Remove(oldest.Value.Key);
                }
                node = _recency.AddFirst(new Entry(key));
                _entries[key] = node;
            }
            var entry = node.Value;
            var q = entry.Times;
            if (Trim(q) < Limit)
            {
                entry.Reported = false;
            }
            q.Enqueue(time.GetUtcNow());
            if (q.Count > Limit)
            {
                q.Dequeue(); // past the limit the count stays at the limit: memory per key is bounded too
            }
            if (q.Count < Limit || entry.Reported)
            {
                return false;
            }
            entry.Reported = true;
            return true;
        }
    }

    /// <summary>How many events <paramref name="key"/> has in the window now.</summary>
    public int CountOf(TKey key)
    {
        lock (_gate)
        {
            return _entries.TryGetValue(key, out var node) ? Trim(node.Value.Times) : 0;
        }
    }

    /// <summary>True while <paramref name="key"/> has <see cref="Limit"/> events in the window.</summary>
    public bool IsOver(TKey key) => CountOf(key) >= Limit;

    private int Trim(Queue<DateTimeOffset> q)
    {
        var cutoff = time.GetUtcNow() - Window;
        while (q.Count > 0 && q.Peek() <= cutoff)
        {
            q.Dequeue();
        }
        return q.Count;
    }
}
