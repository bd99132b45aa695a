namespace Bastion.Logging;

/// <summary>
/// Aggregates repeated log lines (tor warns about the same thing many times a minute during an outage; a hostile broker
/// can send refused fleet commands without end): the first occurrence of a line is passed on at once, repeats within
/// <see cref="Interval"/> of it are only counted, and when the interval is over <see cref="Flush"/> returns one summary per
/// repeated line with its count. Lines are compared by the key <paramref name="key"/> makes of them (as they are when
/// none is given), so a source whose lines carry a timestamp or a counter can fold them into one (tor:
/// <see cref="Bastion.Tor.TorText.RepeatKey"/>). Bounded: at most <see cref="MaxKeys"/> distinct keys are tracked; beyond
/// that new lines pass through (a source's vocabulary is finite, this is a safety net).
/// </summary>
public sealed class RepeatedLines(TimeSpan interval, Func<string, string>? key = null)
{
    public const int MaxKeys = 256;
    private readonly Dictionary<string, Window> _windows = new(StringComparer.Ordinal);
    private readonly List<RepeatSummary> _ended = [];
    private readonly object _lock = new();
    private readonly Func<string, string> _key = key ?? (line => line);

    public TimeSpan Interval { get; } = interval;

    /// <summary>True when the line is to be logged now; false when it is a repeat that is counted.</summary>
    public bool Observe(string line, DateTimeOffset now)
    {
        var key = _key(line);
        lock (_lock)
        {
            if (_windows.TryGetValue(key, out var window) && now - window.Start < Interval)
            {
                window.Repeats++;
                return false;
            }
            if (window is { Repeats: > 0 })
            {
                // Its interval ended before a flush: its count is reported with the next one.
                _ended.Add(new RepeatSummary(key, window.Repeats, now - window.Start));
            }
            if (_windows.Count < MaxKeys || window is not null)
            {
                _windows[key] = new Window(now);
            }
            return true;
        }
    }

    /// <summary>Ends every window older than the interval; returns (key, repeats, time) for those with repeats.</summary>
    public IReadOnlyList<RepeatSummary> Flush(DateTimeOffset now, bool all = false)
    {
        var result = new List<RepeatSummary>();
        lock (_lock)
        {
            result.AddRange(_ended);
            _ended.Clear();
            foreach (var (key, window) in _windows.ToList())
            {
                if (all || now - window.Start >= Interval)
                {
                    if (window.Repeats > 0)
                    {
                        result.Add(new RepeatSummary(key, window.Repeats, now - window.Start));
                    }
                    _windows.Remove(key);
                }
            }
        }
        return result;
    }

    private sealed class Window(DateTimeOffset start)
    {
        public DateTimeOffset Start { get; } = start;
        public int Repeats { get; set; }
    }
}

public sealed record RepeatSummary(string Line, int Repeats, TimeSpan Over);
