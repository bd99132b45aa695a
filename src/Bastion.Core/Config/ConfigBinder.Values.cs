using System.Globalization;
using System.Text.RegularExpressions;

namespace Bastion.Config;

// Scalar conversions. Each reports its own errors and returns null when there is no usable value.
// A value that is wrong but still usable as text (an invalid name) is returned after the report, so later
// rules do not pile a second, misleading error on top.
internal sealed partial class ConfigBinder
{
    private const string NameRule = "^[a-z0-9][a-z0-9._-]{0,62}$";

    [GeneratedRegex(NameRule, RegexOptions.CultureInvariant)]
    private static partial Regex NamePattern();

    private string? Text(Located? value)
    {
        if (value is not { } v)
        {
            return null;
        }
        if (v.Node is not YamlScalar scalar)
        {
            TypeError(v, "a single value", "write one value after the colon (quote it if it starts with [ or {)");
            return null;
        }
        if (scalar.Value.Length == 0)
        {
            errors.Add(v, "is an empty string", "write a value, or remove the key");
            return null;
        }
        return scalar.Value;
    }

    /// <summary>A list of single values (<c>fingerprints</c>, <c>session</c>); null when the key is absent.</summary>
    private List<(string Text, Located Where)>? TextItems(Located? value)
    {
        if (Sequence(value) is not { } items)
        {
            return null;
        }
        var result = new List<(string, Located)>();
        foreach (var item in items)
        {
            if (item.Node is YamlScalar { IsNull: true })
            {
                errors.Add(item, "is an empty list entry", "write a value or remove the '-' line");
            }
            else if (Text(item) is { } text)
            {
                result.Add((text, item));
            }
        }
        return result;
    }

    private EquatableArray<string>? TextList(Located? value) =>
        TextItems(value) is { } items ? [.. items.Select(i => i.Text)] : null;

    /// <summary>A name other entries can refer to; reported when it breaks <see cref="NameRule"/>.</summary>
    private string? Name(Located? value)
    {
        if (value is not { } at || Text(at) is not { } text)
        {
            return null;
        }
        if (!NamePattern().IsMatch(text))
        {
            errors.Add(at, $"'{text}' is not a valid name",
                $"use 1 to 63 lowercase letters, digits, '.', '_' or '-', starting with a letter or digit ({NameRule}), e.g. '{SuggestName(text)}'");
        }
        return text;
    }

    private static string SuggestName(string text)
    {
        var chars = text.ToLowerInvariant().Select(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-' ? c : '-');
        var name = new string([.. chars]).TrimStart('.', '_', '-');
        name = name.Length > 63 ? name[..63] : name;
        return name.Length == 0 ? "main" : name;
    }

    /// <summary>A whole number in [<paramref name="min"/>, <paramref name="max"/>].</summary>
    private int? Integer(Located? value, int min, int max = int.MaxValue)
    {
        if (value is not { } at || Text(at) is not { } text)
        {
            return null;
        }
        var range = max == int.MaxValue ? $"{min} or more" : $"{min}..{max}";
        if (!long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n))
        {
            errors.Add(at, $"'{text}' is not a whole number", $"write a number, {range}");
            return null;
        }
        if (n < min || n > max)
        {
            errors.Add(at, $"{n} is out of range", $"use {range}");
            return null;
        }
        return (int)n;
    }

    private int? Port(Located? value) => Integer(value, 1, 65535);

    /// <summary>A positive duration (<c>10s</c>, <c>1m30s</c>, <c>500ms</c>), at most <paramref name="max"/> when given.</summary>
    private TimeSpan? Duration(Located? value, TimeSpan? max = null, string? whyMax = null)
    {
        if (value is not { } at || Text(at) is not { } text)
        {
            return null;
        }
        if (!Durations.TryParse(text, out var duration, out var error))
        {
            AddParserError(at, error, "write e.g. 10s, 1m30s or 500ms (units: ms, s, m, h, d)");
            return null;
        }
        if (duration <= TimeSpan.Zero)
        {
            errors.Add(at, $"{text} is zero", "write a duration longer than zero, e.g. 10s, 1m30s or 500ms");
            return null;
        }
        if (max is { } limit && duration > limit)
        {
            errors.Add(at, $"{text} is longer than {Durations.Format(limit)}{(whyMax is null ? "" : " (" + whyMax + ")")}", $"write at most {Durations.Format(limit)}");
            return null;
        }
        return duration;
    }

    /// <summary>
    /// <c>host:port</c>. Port 0 ("any free port") only where the address is a local listener: a tunnel's
    /// <c>bind</c> for kinds local and dynamic, and <c>tls[].address</c> in mode listen.
    /// </summary>
    private Endpoint? Endpoint(Located? value, bool localListener = false)
    {
        if (value is not { } at || Text(at) is not { } text)
        {
            return null;
        }
        if (Config.Endpoint.TryParse(text, allowPortZero: localListener, out var endpoint, out var error))
        {
            return endpoint;
        }
        if (Config.Endpoint.TryParse(text, allowPortZero: true, out var any, out _) && any!.Port == 0)
        {
            errors.Add(at, "port 0 (any free port) is only allowed for a local listener", "use a port from 1 to 65535");
        }
        else
        {
            AddParserError(at, error, "write host:port, e.g. 127.0.0.1:2222, or [::1]:2222 for IPv6");
        }
        return null;
    }

    private T? Choice<T>(Located? value, Choices<T> choices) where T : struct
    {
        if (value is not { } at || Text(at) is not { } text)
        {
            return null;
        }
        if (choices.TryGet(text, out var result))
        {
            return result;
        }
        var key = at.Path[(at.Path.LastIndexOf('.') + 1)..];
        errors.Add(at, $"'{text}' is not a valid {key}",
            $"{Suggestions.DidYouMean(text, choices.Words)}use one of: {choices.List}");
        return null;
    }

    /// <summary>A file or directory path; a relative one is resolved against the config file's directory.</summary>
    private string? FilePath(Located? value)
    {
        if (value is not { } at || Text(at) is not { } text)
        {
            return null;
        }
        if (text.StartsWith('~'))
        {
            errors.Add(at, $"'{text}': ~ is not expanded", "write the full path, e.g. /root/.ssh/id_ed25519");
            return null;
        }
        if (text.Contains('\0', StringComparison.Ordinal))
        {
            errors.Add(at, "the path contains a NUL character", "write a plain path");
            return null;
        }
        return Path.GetFullPath(text, baseDirectory);
    }

    /// <summary>The parsers of the model (<see cref="Durations"/>, <see cref="Config.Endpoint"/>) write "problem — fix".</summary>
    private void AddParserError(Located at, string message, string defaultFix)
    {
        var dash = message.IndexOf(" — ", StringComparison.Ordinal);
        if (dash < 0)
        {
            errors.Add(at, message, defaultFix);
        }
        else
        {
            errors.Add(at, message[..dash], message[(dash + 3)..]);
        }
    }

    /// <summary>
    /// Reports when the value of <paramref name="smallKey"/> is not below (or, not <paramref name="strict"/>,
    /// not at most) the value of <paramref name="largeKey"/>, at whichever of the two the file sets (a default
    /// cannot be pointed at). <c>Set</c> is the parsed value; null when the key is absent or did not parse.
    /// </summary>
    private void Ordered(KeyedMapping? m, bool strict,
        string smallKey, TimeSpan? smallSet, TimeSpan smallDefault,
        string largeKey, TimeSpan? largeSet, TimeSpan largeDefault)
    {
        var smallAt = Get(m, smallKey);
        var largeAt = Get(m, largeKey);
        if (m is null || (smallAt is not null && smallSet is null) || (largeAt is not null && largeSet is null))
        {
            return; // absent section, or a value that did not parse (already reported)
        }
        var small = smallSet ?? smallDefault;
        var large = largeSet ?? largeDefault;
        if (strict ? small < large : small <= large)
        {
            return;
        }
        if (smallAt is { } s)
        {
            var largeText = Durations.Format(large) + (largeAt is null ? ", the default" : "");
            errors.Add(s, $"{Durations.Format(small)} is {(strict ? "not shorter than" : "longer than")} {largeKey} ({largeText})",
                $"make {smallKey} {(strict ? "shorter than" : "at most")} {largeKey}");
        }
        else if (largeAt is { } l)
        {
            errors.Add(l, $"{Durations.Format(large)} is {(strict ? "not longer than" : "shorter than")} {smallKey} ({Durations.Format(small)}, the default)",
                $"make {largeKey} {(strict ? "longer than" : "at least")} {smallKey}, or set {smallKey} lower");
        }
    }
}
