using System.Net;

namespace Bastion.Tls;

/// <summary>Refusals of one address in one interval, for the one aggregated log line.</summary>
public sealed record RefusalSummary(IPAddress Address, int Count, TimeSpan Interval, string LastReason);

/// <summary>
/// Keeps refusals from flooding the log: the first <see cref="Detailed"/> refusals of an address in an interval are logged as
/// they happen (each with its reason); the rest are counted and come out as one summary line per address and interval
/// (<see cref="Flush"/>). A flood
/// of thousands of failed handshakes therefore costs a handful of lines, and journald's rate limit never hides real
/// events. Bounded: at most <paramref name="capacity"/> addresses per interval; past that, refusals are counted under one
/// "other addresses" entry (<see cref="IPAddress.None"/>).
/// </summary>
public sealed class RefusalDigest(TimeSpan interval, int capacity, TimeProvider time)
{
    /// <summary>Refusals per address and interval logged one by one before the rest are only counted.</summary>
    public const int Detailed = 3;

    private sealed class Entry(DateTimeOffset since)
    {
        public DateTimeOffset Since { get; } = since;
        public int Logged { get; set; } = 1;
        public int Unlogged { get; set; }
        public string LastReason { get; set; } = "";
    }

    private readonly Dictionary<IPAddress, Entry> _entries = [];
    private readonly Lock _gate = new();

    public TimeSpan Interval { get; } = interval;

    /// <summary>Records a refusal; true when it should be logged now (one of the address's first in this interval).</summary>
    public bool Record(IPAddress address, string reason)
    {
        lock (_gate)
        {
            var now = time.GetUtcNow();
            if (_entries.TryGetValue(address, out var entry) && now - entry.Since < Interval)
            {
                if (entry.Logged < Detailed)
                {
                    entry.Logged++;
                    return true;
                }
                entry.Unlogged++;
                entry.LastReason = reason;
                return false;
            }
            if (entry is null && _entries.Count >= capacity)
            {
                var other = _entries.TryGetValue(IPAddress.None, out var o) ? o : _entries[IPAddress.None] = new Entry(now);
                other.Unlogged++;
                other.LastReason = reason;
                return false;
            }
            // A new interval: a previous one's count not flushed yet is kept for Flush (it is due now anyway).
            if (entry is { Unlogged: > 0 })
            {
                _due.Add(Summary(address, entry, now));
            }
            _entries[address] = new Entry(now);
            return true;
        }
    }

    private readonly List<RefusalSummary> _due = [];

    /// <summary>The summaries of intervals that have ended with refusals not yet logged; forgets ended intervals.</summary>
    public IReadOnlyList<RefusalSummary> Flush()
    {
        lock (_gate)
        {
            var now = time.GetUtcNow();
            var result = new List<RefusalSummary>(_due);
            _due.Clear();
            foreach (var (address, entry) in _entries.ToList())
            {
                if (now - entry.Since < Interval)
                {
                    continue;
                }
                if (entry.Unlogged > 0)
                {
                    result.Add(Summary(address, entry, now));
                }
                _entries.Remove(address);
            }
            return result;
        }
    }

    private static RefusalSummary Summary(IPAddress address, Entry entry, DateTimeOffset now) =>
        new(address, entry.Unlogged, now - entry.Since, entry.LastReason);
}
