using System.Globalization;
using System.Text;

namespace Bastion.Vnc;

/// <summary>Peer strings (RFB versions, failure reasons, desktop names) made safe for one line of status or log.</summary>
internal static class RfbText
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
}
