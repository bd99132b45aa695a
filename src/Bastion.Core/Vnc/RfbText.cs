using System.Globalization;
using System.Text;

namespace Bastion.Vnc;

/// <summary>Peer strings (RFB versions, failure reasons, desktop names) made safe for one line of status or log.</summary>
public static class RfbText
{
    public const int MaxLength = 80;

    /// <summary>Control, format and other invisible characters become '?'; longer than <see cref="MaxLength"/> is cut with "…".</summary>
    public static string Printable(string text)
    {
        var builder = new StringBuilder(Math.Min(text.Length, MaxLength));
        foreach (var c in text)
        {
            if (builder.Length == MaxLength)
            {
                break;
            }
            builder.Append(IsShown(c) ? c : '?');
        }
        if (builder.Length < text.Length && builder.Length == MaxLength)
        {
            builder.Length = MaxLength - 1;
            builder.Append('…');
        }
        return builder.ToString();
    }

    /// <summary>
    /// Not controls (a terminal escape in a log line), format characters (a right-to-left override that makes a log line
    /// read differently), separators that break lines, surrogates (a pair could be cut in half), private use or unassigned.
    /// </summary>
    private static bool IsShown(char c) => char.GetUnicodeCategory(c) is not (UnicodeCategory.Control or UnicodeCategory.Format
        or UnicodeCategory.Surrogate or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator
        or UnicodeCategory.PrivateUse or UnicodeCategory.OtherNotAssigned) && c != '\uFFFD';

    /// <summary>Bytes from the peer as text: UTF-8 when valid, else one character per byte.</summary>
    public static string Decode(ReadOnlySpan<byte> bytes)
    {
        try
        {
            return new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            return Encoding.Latin1.GetString(bytes);
        }
    }

    public static string PrintableBytes(ReadOnlySpan<byte> bytes) => Printable(Decode(bytes));

    /// <summary>"RFB 003.00x\n" → x (0–9); otherwise null.</summary>
    public static int? VersionMinor(ReadOnlySpan<byte> version)
    {
        if (version.Length != 12 || !version[..10].SequenceEqual("RFB 003.00"u8) || version[11] != (byte)'\n' || version[10] is < (byte)'0' or > (byte)'9')
        {
            return null;
        }
        return version[10] - '0';
    }

    /// <summary>
    /// The minor version a TigerVNC server reads from a client's 12 version bytes. Xvnc parses them with
    /// <c>sscanf(v, "RFB %03d.%03d\n")</c> and goes on whenever both numbers convert, so "RFB 003.010\n", "RFB 003.008\r" or
    /// "RFB 3.8\n" followed by spaces all reach VNC authentication (a minor above 8 as 3.8, one that is not 7 or 8 as 3.3).
    /// Null when Xvnc refuses them: no two numbers, or a major version other than 3.
    /// </summary>
    public static int? ClientVersionMinor(ReadOnlySpan<byte> version)
    {
        var end = version.IndexOf((byte)0); // sscanf sees a C string
        var s = end >= 0 ? version[..end] : version;
        if (!s.StartsWith("RFB"u8))
        {
            return null;
        }
        var i = 3;
        if (ScanInt(s, ref i) is not { } major || i >= s.Length || s[i] != (byte)'.')
        {
            return null;
        }
        i++;
        return ScanInt(s, ref i) is { } minor && major == 3 ? minor : null;
    }

    /// <summary>scanf's <c>%03d</c>: whitespace skipped, then at most 3 characters of an optional sign and digits (at least one digit).</summary>
    private static int? ScanInt(ReadOnlySpan<byte> s, ref int i)
    {
        while (i < s.Length && s[i] is (byte)' ' or >= 9 and <= 13)
        {
            i++;
        }
        var start = i;
        var negative = false;
        if (i < s.Length && s[i] is (byte)'+' or (byte)'-')
        {
            negative = s[i] == (byte)'-';
            i++;
        }
        var value = 0;
        var digits = 0;
        while (i < s.Length && i - start < 3 && s[i] is >= (byte)'0' and <= (byte)'9')
        {
            value = (value * 10) + (s[i] - '0');
            i++;
            digits++;
        }
        return digits == 0 ? null : negative ? -value : value;
    }
}
