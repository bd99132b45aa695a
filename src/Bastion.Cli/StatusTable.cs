using System.Globalization;
using System.Text;
using Bastion.Status;

namespace Bastion.Cli;

/// <summary>
/// The human-readable status: a daemon block (state, pid, version, summary, config, start and reload times, refused-reload
/// errors), then one row per component: KIND, NAME, STATE, SINCE, REASON. Reasons are never cut: on a terminal (or with
/// <c>COLUMNS</c>) they wrap under their column, otherwise each row stays on one line however long.
/// </summary>
internal static class StatusTable
{
    private const int LabelWidth = 13;
    private const int MinReasonWidth = 30;
    private const string Gap = "  ";

    public static void WriteDaemon(TextWriter output, DaemonStatusReading reading, DateTimeOffset now, int? width = null)
    {
        var daemon = reading.Snapshot.Daemon;
        if (reading.IsStale)
        {
            output.WriteLine($"bastiond is NOT RUNNING ({reading.StaleReason}). Last known status, written {When(daemon.WrittenAt, now)}:");
        }
        Line(output, "daemon", $"{daemon.State}, pid {daemon.Pid.ToString(CultureInfo.InvariantCulture)}, version {daemon.Version}");
        var source = reading.Source == StatusReport.SourceDbus
            ? $"D-Bus ({reading.Path})"
            : $"status file {reading.Path}" + (reading.DbusError is { } why ? $" (not D-Bus: {why})" : "");
        // Wrapped like reasons: the why can be long, and it must not break a narrow terminal's layout.
        foreach (var (part, i) in Wrap(source, width is { } w ? Math.Max(w - LabelWidth, MinReasonWidth) : null).Select((p, i) => (p, i)))
        {
            Line(output, i == 0 ? "source" : "", part);
        }
        if (daemon.Summary.Length > 0)
        {
            Line(output, "summary", daemon.Summary);
        }
        Line(output, "config", daemon.ConfigPath);
        Line(output, "started", When(daemon.StartedAt, now));
        var lastReload = daemon.LastReloadAt is { } at ? When(at, now) : "never";
        if (daemon.ConfigErrors.Count == 0)
        {
            Line(output, "last reload", lastReload);
            return;
        }
        Line(output, "last reload", $"{lastReload} — REFUSED, bastiond keeps running on the last good config:");
        foreach (var error in daemon.ConfigErrors)
        {
            Line(output, "", error);
        }
    }

    public static void WriteComponents(TextWriter output, IReadOnlyList<ComponentStatus> components, DateTimeOffset now, int? width)
    {
        string[] header = ["KIND", "NAME", "STATE", "SINCE", "REASON"];
        var rows = components.Select(c => new[] { c.Kind, c.Name, c.State, Ago(c.Since, now), c.Reason }).ToList();
        var widths = new int[header.Length - 1];
        for (var i = 0; i < widths.Length; i++)
        {
            widths[i] = rows.Select(r => r[i].Length).Append(header[i].Length).Max();
        }
        var reasonColumn = widths.Sum() + (Gap.Length * widths.Length);
        int? reasonWidth = width is { } w ? Math.Max(w - reasonColumn, MinReasonWidth) : null;

        foreach (var row in rows.Prepend(header))
        {
            var line = new StringBuilder();
            for (var i = 0; i < widths.Length; i++)
            {
                line.Append(row[i].PadRight(widths[i])).Append(Gap);
            }
            var reasonLines = Wrap(row[^1], reasonWidth);
            line.Append(reasonLines[0]);
            output.WriteLine(line.ToString().TrimEnd());
            foreach (var more in reasonLines.Skip(1))
            {
                output.WriteLine(new string(' ', reasonColumn) + more);
            }
        }
    }

    /// <summary>The tunnel details shown by <c>bastionctl tunnels</c>, in this order, when the tunnel reports them.</summary>
    private static readonly (string Key, string Label)[] TunnelDetails =
    [
        ("boundPort", "bound port"), ("session", "session"), ("activeConnections", "active connections"),
        ("connections", "connections"), ("bytesOut", "bytes out"), ("bytesIn", "bytes in"),
        ("connects", "connects"), ("reconnects", "reconnects"),
    ];

    /// <summary>
    /// Under the table, per tunnel that reports any: its counters and session, e.g.
    /// <c>office: bound port 2222, session SSH-2.0-OpenSSH_9.2p1, active connections 1, bytes out 1532 (1.5 KiB), …</c>.
    /// </summary>
    public static void WriteTunnelDetails(TextWriter output, IReadOnlyList<ComponentStatus> tunnels)
    {
        var lines = new List<string>();
        foreach (var tunnel in tunnels)
        {
            var parts = TunnelDetails
                .Where(d => tunnel.Details.ContainsKey(d.Key))
                .Select(d => d.Label + " " + (d.Key.StartsWith("bytes", StringComparison.Ordinal) ? Bytes(tunnel.Details[d.Key]) : tunnel.Details[d.Key]))
                .ToList();
            if (parts.Count > 0)
            {
                lines.Add(tunnel.Name + ": " + string.Join(", ", parts));
            }
        }
        if (lines.Count > 0)
        {
            output.WriteLine();
            lines.ForEach(output.WriteLine);
        }
    }

    /// <summary><c>1532 (1.5 KiB)</c>: the exact count, and a readable size from 1 KiB on.</summary>
    public static string Bytes(string value)
    {
        if (!long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n < 1024)
        {
            return value;
        }
        string[] units = ["KiB", "MiB", "GiB", "TiB"];
        var size = n / 1024.0;
        var unit = 0;
        while (size >= 1024 && unit < units.Length - 1)
        {
            size /= 1024;
            unit++;
        }
        return $"{value} ({size.ToString("0.#", CultureInfo.InvariantCulture)} {units[unit]})";
    }

    /// <summary><c>3m12s ago</c>: the two largest units; <c>in 5s</c> when the clocks disagree.</summary>
    public static string Ago(DateTimeOffset then, DateTimeOffset now)
    {
        var span = now - then;
        if (span < -TimeSpan.FromSeconds(1))
        {
            return "in " + TwoUnits(-span);
        }
        return TwoUnits(span < TimeSpan.Zero ? TimeSpan.Zero : span) + " ago";
    }

    /// <summary>Local time with its offset, then how long ago: <c>2026-11-22 10:00:00 +01:00 (3m12s ago)</c>.</summary>
    public static string When(DateTimeOffset at, DateTimeOffset now) =>
        at.ToLocalTime().ToString("yyyy-MM-dd HH:mm:ss zzz", CultureInfo.InvariantCulture) + " (" + Ago(at, now) + ")";

    private static string TwoUnits(TimeSpan span)
    {
        static string N(int n) => n.ToString(CultureInfo.InvariantCulture);
        if (span.TotalDays >= 1)
        {
            return N((int)span.TotalDays) + "d" + (span.Hours > 0 ? N(span.Hours) + "h" : "");
        }
        if (span.TotalHours >= 1)
        {
            return N(span.Hours) + "h" + (span.Minutes > 0 ? N(span.Minutes) + "m" : "");
        }
        if (span.TotalMinutes >= 1)
        {
            return N(span.Minutes) + "m" + (span.Seconds > 0 ? N(span.Seconds) + "s" : "");
        }
        return N(span.Seconds) + "s";
    }

    private static void Line(TextWriter output, string label, string value) =>
        output.WriteLine((label.PadRight(LabelWidth) + value).TrimEnd());

    /// <summary>
    /// Splits on the reason's own line breaks, then wraps at spaces to <paramref name="width"/>. A word longer than the width
    /// (a path, a fingerprint) is kept whole: better a long line than a broken key to copy.
    /// </summary>
    private static List<string> Wrap(string text, int? width)
    {
        var lines = new List<string>();
        foreach (var paragraph in text.Replace("\r", "", StringComparison.Ordinal).Split('\n'))
        {
            if (width is not { } max || paragraph.Length <= max)
            {
                lines.Add(paragraph);
                continue;
            }
            var current = new StringBuilder();
            foreach (var word in paragraph.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            {
                if (current.Length > 0 && current.Length + 1 + word.Length > max)
                {
                    lines.Add(current.ToString());
                    current.Clear();
                }
                if (current.Length > 0)
                {
                    current.Append(' ');
                }
                current.Append(word);
            }
            lines.Add(current.ToString());
        }
        return lines;
    }
}
