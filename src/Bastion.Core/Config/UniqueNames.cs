namespace Bastion.Config;

/// <summary>Values that must be unique within one list (names, onion virtual ports): reports each repeat at the repeat, naming the first.</summary>
internal sealed class UniqueNames(ConfigErrorList errors, string fix)
{
    private readonly Dictionary<string, Located> _first = new(StringComparer.Ordinal);

    /// <summary>Every distinct value, in file order.</summary>
    public List<string> Values { get; } = [];

    public void Claim(string? value, Located? at)
    {
        if (value is null || at is not { } where)
        {
            return;
        }
        if (_first.TryGetValue(value, out var first))
        {
            var dot = first.Path.LastIndexOf('.');
            var owner = dot < 0 ? first.Path : first.Path[..dot];
            errors.Add(where, $"'{value}' is already used by {owner} (line {first.Node.Start.Line})", fix);
            return;
        }
        _first.Add(value, where);
        Values.Add(value);
    }
}
