using System.Text;

namespace Bastion.Tor;

/// <summary>Small text helpers shared by the control protocol and the status code: tor's words go into logs, so keep them tame.</summary>
public static class TorText
{
    /// <summary>Printable ASCII only, at most <paramref name="max"/> characters (then "…").</summary>
    public static string Printable(string text, int max = 120)
    {
        var sb = new StringBuilder(Math.Min(text.Length, max + 1));
        foreach (var c in text)
        {
            if (sb.Length >= max)
            {
                sb.Append('…');
                break;
            }
            sb.Append(c is >= ' ' and <= '~' ? c : '?');
        }
        return sb.ToString();
    }

    /// <summary>
    /// The key under which <see cref="Bastion.Logging.RepeatedLines"/> counts a line of tor's log: without its timestamp and its own
    /// "[N similar message(s) suppressed …]" note. "Nov 23 01:02:03.456 [warn] text [3 similar message(s) suppressed in last
    /// 60 seconds]" → "[warn] text".
    /// </summary>
    public static string RepeatKey(string line)
    {
        var bracket = line.IndexOf('[', StringComparison.Ordinal);
        var text = bracket is > 0 and < 30 ? line[bracket..] : line;
        var suppressed = text.LastIndexOf(" [", StringComparison.Ordinal);
        if (suppressed > 0 && text.EndsWith(']') && text.AsSpan(suppressed).Contains("suppressed", StringComparison.Ordinal))
        {
            text = text[..suppressed];
        }
        return text;
    }
}
