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
}
