namespace Bastion.Ssh;

/// <summary>
/// OpenSSH's pattern matching (match.c, as <c>ssh-keygen -Y verify</c> uses it for principals and namespaces, and ssh
/// for known_hosts host patterns through <see cref="KnownHosts"/>): <c>*</c> is any run of characters, <c>?</c> any one
/// character, case-sensitive; a list is comma-separated and a pattern starting with <c>!</c> is a negation that, when it
/// matches, refuses the whole list.
/// </summary>
public static class SshPatterns
{
    /// <summary>OpenSSH ignores (does not match) a single pattern of 1024 characters or more.</summary>
    private const int MaxPattern = 1023;

    public enum ListMatch
    {
        NoMatch,
        Match,
        NegatedMatch,
    }

    public static ListMatch MatchList(string value, string patterns)
    {
        var positive = false;
        foreach (var item in patterns.Split(','))
        {
            var negated = item.StartsWith('!');
            var pattern = negated ? item[1..] : item;
            if (pattern.Length > MaxPattern)
            {
                return ListMatch.NoMatch;
            }
            if (Match(value, pattern))
            {
                if (negated)
                {
                    return ListMatch.NegatedMatch;
                }
                positive = true;
            }
        }
        return positive ? ListMatch.Match : ListMatch.NoMatch;
    }

    /// <summary>One glob; iterative with backtracking to the last <c>*</c>, so linear-ish and without recursion.</summary>
    public static bool Match(ReadOnlySpan<char> value, ReadOnlySpan<char> pattern)
    {
        int v = 0, p = 0, starP = -1, starV = 0;
        while (v < value.Length)
        {
            if (p < pattern.Length && (pattern[p] == '?' || pattern[p] == value[v]) && pattern[p] != '*')
            {
                v++;
                p++;
            }
            else if (p < pattern.Length && pattern[p] == '*')
            {
                starP = p++;
                starV = v;
            }
            else if (starP >= 0)
            {
                p = starP + 1;
                v = ++starV;
            }
            else
            {
                return false;
            }
        }
        while (p < pattern.Length && pattern[p] == '*')
        {
            p++;
        }
        return p == pattern.Length;
    }
}
