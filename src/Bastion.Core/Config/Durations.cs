using System.Globalization;

namespace Bastion.Config;

/// <summary>Durations as written in the config: <c>500ms</c>, <c>10s</c>, <c>1m30s</c>, <c>2h</c>, <c>7d</c>.</summary>
public static class Durations
{
    /// <summary>Parses a sequence of number+unit pairs (units ms, s, m, h, d). A bare number is refused: units are mandatory.</summary>
    public static bool TryParse(string text, out TimeSpan value, out string error)
    {
        try
        {
            return TryParseParts(text, out value, out error);
        }
        catch (OverflowException)
        {
            // TimeSpan ends at about 29 000 years: 1000000d must be an error, not an exception.
            value = TimeSpan.Zero;
            error = $"'{text}' is too large";
            return false;
        }
    }

    private static bool TryParseParts(string text, out TimeSpan value, out string error)
    {
        value = TimeSpan.Zero;
        var s = text.Trim();
        if (s.Length == 0)
        {
            error = "empty duration — write e.g. 10s, 1m30s or 500ms";
            return false;
        }
        var total = TimeSpan.Zero;
        var i = 0;
        while (i < s.Length)
        {
            var start = i;
            while (i < s.Length && char.IsAsciiDigit(s[i]))
            {
                i++;
            }
            if (i == start)
            {
                error = $"'{text}' is not a duration — write e.g. 10s, 1m30s or 500ms";
                return false;
            }
            if (!long.TryParse(s.AsSpan(start, i - start), NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n > 1_000_000_000)
            {
                error = $"'{text}' is too large";
                return false;
            }
            var unitStart = i;
            while (i < s.Length && char.IsAsciiLetter(s[i]))
            {
                i++;
            }
            var unit = s[unitStart..i];
            TimeSpan part;
            switch (unit)
            {
                case "ms": part = TimeSpan.FromMilliseconds(n); break;
                case "s": part = TimeSpan.FromSeconds(n); break;
                case "m": part = TimeSpan.FromMinutes(n); break;
                case "h": part = TimeSpan.FromHours(n); break;
                case "d": part = TimeSpan.FromDays(n); break;
                case "":
                    error = $"'{text}' has no unit — write e.g. {n}s (units: ms, s, m, h, d)";
                    return false;
                default:
                    error = $"'{unit}' in '{text}' is not a unit — use ms, s, m, h or d (e.g. 1m30s)";
                    return false;
            }
            total += part;
        }
        value = total;
        error = "";
        return true;
    }

    /// <summary>Formats the way the config writes it (for status and messages).</summary>
    public static string Format(TimeSpan value)
    {
        if (value == TimeSpan.Zero)
        {
            return "0s";
        }
        if (value.TotalSeconds < 1)
        {
            return ((long)value.TotalMilliseconds).ToString(CultureInfo.InvariantCulture) + "ms";
        }
        var parts = new List<string>();
        if (value.Days > 0) parts.Add(value.Days.ToString(CultureInfo.InvariantCulture) + "d");
        if (value.Hours > 0) parts.Add(value.Hours.ToString(CultureInfo.InvariantCulture) + "h");
        if (value.Minutes > 0) parts.Add(value.Minutes.ToString(CultureInfo.InvariantCulture) + "m");
        if (value.Seconds > 0) parts.Add(value.Seconds.ToString(CultureInfo.InvariantCulture) + "s");
        if (value.Milliseconds > 0) parts.Add(value.Milliseconds.ToString(CultureInfo.InvariantCulture) + "ms");
        return string.Concat(parts);
    }
}
