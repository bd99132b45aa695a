namespace Bastion.Config;

/// <summary>"Did you mean …?" for misspelt keys, choices and names.</summary>
internal static class Suggestions
{
    /// <summary>
    /// The candidate the admin most likely meant, or null: a case-insensitive match first, then the closest
    /// spelling within 2 edits (1 for words of up to 5 letters, so short keys don't suggest nonsense), then
    /// the only candidate that contains what was written (<c>p384</c> → <c>ecdsa-p384</c>).
    /// </summary>
    public static string? Closest(string written, IEnumerable<string> candidates)
    {
        var list = candidates.ToList();
        var caseless = list.Find(c => string.Equals(c, written, StringComparison.OrdinalIgnoreCase));
        if (caseless is not null)
        {
            return caseless;
        }
        string? best = null;
        var bestDistance = int.MaxValue;
        foreach (var candidate in list)
        {
            var allowed = Math.Min(written.Length, candidate.Length) <= 5 ? 1 : 2;
            var distance = Distance(written.ToLowerInvariant(), candidate.ToLowerInvariant());
            if (distance <= allowed && distance < bestDistance)
            {
                best = candidate;
                bestDistance = distance;
            }
        }
        if (best is not null || written.Length < 3)
        {
            return best;
        }
        var containing = list.FindAll(c => c.Contains(written, StringComparison.OrdinalIgnoreCase));
        return containing.Count == 1 ? containing[0] : null;
    }

    /// <summary>"did you mean 'x'? " when there is a near miss, else "".</summary>
    public static string DidYouMean(string written, IEnumerable<string> candidates) =>
        Closest(written, candidates) is { } c ? $"did you mean '{c}'? " : "";

    /// <summary>Edit distance counting an adjacent swap as one edit (optimal string alignment).</summary>
    internal static int Distance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (var i = 0; i <= a.Length; i++)
        {
            d[i, 0] = i;
        }
        for (var j = 0; j <= b.Length; j++)
        {
            d[0, j] = j;
        }
        for (var i = 1; i <= a.Length; i++)
        {
            for (var j = 1; j <= b.Length; j++)
            {
                var cost = a[i - 1] == b[j - 1] ? 0 : 1;
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + cost);
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                {
                    d[i, j] = Math.Min(d[i, j], d[i - 2, j - 2] + 1);
                }
            }
        }
        return d[a.Length, b.Length];
    }
}
