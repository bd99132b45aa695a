using System.Diagnostics;
using Bastion.Logging;
using Bastion.Tor;
using Microsoft.Extensions.Logging;

namespace Bastion.Daemon.Tor;

/// <summary>
/// Tor's stdout/stderr: each line to the daemon's log (debug; warnings and errors as such), repeats aggregated (one
/// line per message and minute, with a count: an outage must not flood the journal), the last few kept for failure
/// reasons.
/// </summary>
internal sealed class TorProcessOutput(ILogger logger, TimeProvider time) : IDisposable
{
    public static readonly TimeSpan RepeatInterval = TimeSpan.FromSeconds(60);
    private const int Keep = 12;
    private readonly Queue<string> _last = new();
    private readonly object _lock = new();
    private readonly RepeatedLines _repeats = new(RepeatInterval, TorText.RepeatKey);
    private ITimer? _flush;

    public void Attach(Process process)
    {
        _flush = time.CreateTimer(_ => Flush(all: false), null, RepeatInterval, RepeatInterval);
        process.OutputDataReceived += (_, e) => Line(e.Data);
        process.ErrorDataReceived += (_, e) => Line(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    internal void Line(string? line)
    {
        if (line is null)
        {
            return;
        }
        var text = TorText.Printable(line, 300);
        lock (_lock)
        {
            _last.Enqueue(text);
            while (_last.Count > Keep)
            {
                _last.Dequeue();
            }
        }
        var level = LevelOf(text);
        if (level == LogLevel.Debug || _repeats.Observe(text, time.GetUtcNow()))
        {
            TorLog.Output(logger, level, text);
        }
    }

    /// <summary>Logs the counts of repeated lines whose interval is over (all of them when tor has ended).</summary>
    public void Flush(bool all)
    {
        foreach (var s in _repeats.Flush(time.GetUtcNow(), all))
        {
            var seconds = (int)Math.Ceiling(s.Over.TotalSeconds);
            var level = LevelOf(s.Line);
            TorLog.OutputRepeated(logger, level, s.Line, s.Repeats, seconds);
        }
    }

    /// <summary>Tor's last error line ("[err] …", timestamp removed), or null: only an error names a cause.</summary>
    public string? LastError()
    {
        lock (_lock)
        {
            return _last.LastOrDefault(l => l.Contains("[err]", StringComparison.Ordinal)) is { } e ? StripTimestamp(e) : null;
        }
    }

    /// <summary>The most telling recent line: the last error or warning, else the last line (for "did not start" reasons).</summary>
    public string LastWords()
    {
        lock (_lock)
        {
            var lines = _last.ToArray();
            var telling = lines.LastOrDefault(l => l.Contains("[err]", StringComparison.Ordinal))
                ?? lines.LastOrDefault(l => l.Contains("[warn]", StringComparison.Ordinal) && !IsRootWarning(l))
                ?? lines.LastOrDefault();
            return telling is null ? "no output" : StripTimestamp(telling);
        }
    }

    public void Dispose()
    {
        _flush?.Dispose();
        Flush(all: true);
    }

    private static LogLevel LevelOf(string text) =>
        text.Contains("[err]", StringComparison.Ordinal) ? LogLevel.Error
        : text.Contains("[warn]", StringComparison.Ordinal) && !IsRootWarning(text) ? LogLevel.Warning
        : LogLevel.Debug;

    /// <summary>
    /// Tor warns at every start when it runs as root, which it does under bastiond's unit (the sandbox is the unit's):
    /// not a reason anybody can act on, so neither a warning in the log nor the "last words" of a failure.
    /// </summary>
    private static bool IsRootWarning(string line) => line.Contains("You are running Tor as root", StringComparison.Ordinal);

    /// <summary>"Nov 23 01:02:03.456 [err] text" → "[err] text".</summary>
    private static string StripTimestamp(string line)
    {
        var bracket = line.IndexOf('[', StringComparison.Ordinal);
        return bracket is > 0 and < 30 ? line[bracket..] : line;
    }
}
