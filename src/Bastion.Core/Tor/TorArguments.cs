using System.Collections.Immutable;
using System.Text;

namespace Bastion.Tor;

/// <summary>
/// The words of a reply or event line: positional words first, then <c>KEY=VALUE</c> pairs whose value may be a
/// quoted string with backslash escapes (control-spec 2.1.1). Lenient by design — an unknown or malformed piece is
/// kept as a word, never an exception — because callers only look for what they know.
/// </summary>
public sealed record TorArguments(ImmutableArray<string> Words, ImmutableDictionary<string, string> Keywords)
{
    public string? this[string key] => Keywords.TryGetValue(key, out var v) ? v : null;

    public string? Word(int index) => index < Words.Length ? Words[index] : null;

    public static TorArguments Parse(string text)
    {
        var words = ImmutableArray.CreateBuilder<string>();
        var keywords = ImmutableDictionary.CreateBuilder<string, string>(StringComparer.Ordinal);
        var i = 0;
        while (i < text.Length)
        {
            if (text[i] == ' ')
            {
                i++;
                continue;
            }
            var start = i;
            while (i < text.Length && text[i] != ' ' && text[i] != '=')
            {
                i++;
            }
            if (i < text.Length && text[i] == '=' && i > start)
            {
                var key = text[start..i];
                i++;
                string value;
                if (i < text.Length && text[i] == '"')
                {
                    value = Unquote(text, ref i);
                }
                else
                {
                    var vs = i;
                    while (i < text.Length && text[i] != ' ')
                    {
                        i++;
                    }
                    value = text[vs..i];
                }
                keywords[key] = value;
                continue;
            }
            if (text[start] == '"')
            {
                var q = start;
                words.Add(Unquote(text, ref q));
                i = q;
                continue;
            }
            while (i < text.Length && text[i] != ' ')
            {
                i++;
            }
            words.Add(text[start..i]);
        }
        return new TorArguments(words.ToImmutable(), keywords.ToImmutable());
    }

    /// <summary>Reads a quoted string starting at <paramref name="i"/> (the opening quote); an unterminated one ends at the line's end.</summary>
    private static string Unquote(string text, ref int i)
    {
        var sb = new StringBuilder();
        i++;
        while (i < text.Length)
        {
            var c = text[i++];
            if (c == '"')
            {
                break;
            }
            if (c == '\\' && i < text.Length)
            {
                var e = text[i++];
                sb.Append(e switch { 'n' => '\n', 'r' => '\r', 't' => '\t', _ => e });
                continue;
            }
            sb.Append(c);
        }
        return sb.ToString();
    }
}

/// <summary>Builds control-port commands; refuses anything that could smuggle a second command into the line.</summary>
public static class TorCommand
{
    /// <summary>A quoted string for the control protocol (<c>"…"</c> with <c>\\</c> and <c>\"</c> escaped).</summary>
    public static string Quote(string value)
    {
        RequireOneLine(value);
        return "\"" + value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal) + "\"";
    }

    /// <summary>A bare word (key, service id, port spec): no spaces, quotes or line breaks.</summary>
    public static string Word(string value)
    {
        RequireOneLine(value);
        if (value.Length == 0 || value.Any(c => c is ' ' or '"' or '\t' || char.IsControl(c)))
        {
            // Never the value itself: it may be a key (ADD_ONION's), and this message may reach a log.
            throw new ArgumentException($"a value of {value.Length} characters holds a space, quote or control character and cannot be one word of a tor control command", nameof(value));
        }
        return value;
    }

    /// <summary>Joins words into one command line, CRLF-terminated.</summary>
    public static string Line(params string[] words)
    {
        foreach (var w in words)
        {
            RequireOneLine(w);
        }
        return string.Join(' ', words) + "\r\n";
    }

    private static void RequireOneLine(string value)
    {
        if (value.AsSpan().IndexOfAny('\r', '\n', '\0') >= 0)
        {
            throw new ArgumentException("a tor control command argument must not contain a line break or NUL", nameof(value));
        }
    }
}
