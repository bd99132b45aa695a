namespace Bastion.Tor;

/// <summary>
/// The option a torrc line sets, read the way tor reads it: the key ends at whitespace or '#', and a leading '+'
/// (append to the option's list), '/' (clear it) or the '__' of tor's unsaved twins (<c>__ControlPort</c>,
/// <c>__SocksPort</c>, …) still set the plain option. A check that compares keys must compare these.
/// </summary>
public static class TorrcKey
{
    /// <summary>The key of <paramref name="line"/> as written (empty for a blank line or a comment).</summary>
    public static string RawKey(string line)
    {
        var trimmed = line.TrimStart();
        if (trimmed.StartsWith('#'))
        {
            return "";
        }
        var end = trimmed.IndexOfAny([' ', '\t', '#']);
        return end < 0 ? trimmed : trimmed[..end];
    }

    /// <summary>The key without tor's '+' / '/' prefix; <paramref name="clears"/> says whether it was '/'.</summary>
    public static string WithoutListPrefix(string key, out bool clears)
    {
        clears = key.StartsWith('/');
        return clears || key.StartsWith('+') ? key[1..] : key;
    }

    /// <summary>
    /// Whether <paramref name="key"/> (as written, any prefix) sets <paramref name="option"/> in tor: the same name in
    /// any case, with '+', '/' or '__' before it (<see cref="TorrcKeyMatch.Exact"/>), or an abbreviation of it (tor still
    /// accepts a prefix of an option's name, with a deprecation warning, and takes the first option it fits — which
    /// may or may not be this one: <see cref="TorrcKeyMatch.Abbreviation"/>).
    /// </summary>
    public static TorrcKeyMatch Match(string key, string option)
    {
        var bare = WithoutListPrefix(key, out _);
        if (bare.Length == 0)
        {
            return TorrcKeyMatch.None;
        }
        var twin = !option.StartsWith("__", StringComparison.Ordinal) && bare.StartsWith("__", StringComparison.Ordinal);
        var name = twin ? bare[2..] : bare;
        if (name.Equals(option, StringComparison.OrdinalIgnoreCase))
        {
            return TorrcKeyMatch.Exact;
        }
        return name.Length > 0 && name.Length < option.Length && option.StartsWith(name, StringComparison.OrdinalIgnoreCase)
            ? TorrcKeyMatch.Abbreviation
            : TorrcKeyMatch.None;
    }

    /// <summary>Whether the key may set the option (exactly or as an abbreviation): for what a config may not override.</summary>
    public static bool Sets(string key, string option) => Match(key, option) != TorrcKeyMatch.None;

    /// <summary>A line tor treats as an include of other files (<c>%include PATH</c>).</summary>
    public static bool IsInclude(string line) => RawKey(line).Equals("%include", StringComparison.OrdinalIgnoreCase);
}

public enum TorrcKeyMatch
{
    None,
    Exact,
    Abbreviation,
}
