using System.Text.RegularExpressions;

namespace Bastion.Supervision;

/// <summary>
/// Blanks what could be a key in text that did not come from Bastion's own words (an exception's message, a stack
/// trace): every run of 20 or more base64/base32/hex characters that mixes letters and digits. Keys, cookies and
/// passwords encoded that way look like this; names, paths and method names rarely do (they have no digits or are
/// cut by '.', ':' or spaces).
/// </summary>
public static partial class SecretRedaction
{
    public static string Redact(string text) =>
        KeyLike().Replace(text, m => m.Value.Any(char.IsAsciiDigit) && m.Value.Any(char.IsAsciiLetter) ? $"[redacted {m.Value.Length} chars]" : m.Value);

    [GeneratedRegex("[A-Za-z0-9+/=_-]{20,}", RegexOptions.CultureInvariant)]
    private static partial Regex KeyLike();
}
