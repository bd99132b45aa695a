namespace Bastion.Config;

/// <summary>A place in the config file; line and column are 1-based, as editors count them.</summary>
internal readonly record struct TextPosition(int Line, int Column) : IComparable<TextPosition>
{
    public int CompareTo(TextPosition other) =>
        Line != other.Line ? Line.CompareTo(other.Line) : Column.CompareTo(other.Column);
}

/// <summary>
/// The small YAML tree the binder walks: scalars stay text (the binder converts them itself, so
/// <c>off</c>, <c>yes</c> or <c>010</c> never change meaning behind the admin's back), and every node keeps
/// where it starts for error messages.
/// </summary>
internal abstract class YamlNode(TextPosition start)
{
    public TextPosition Start { get; } = start;

    /// <summary>How an error message names this kind of node ("a list", "a mapping", "a single value").</summary>
    public abstract string Description { get; }
}

internal sealed class YamlScalar(TextPosition start, string value, bool isPlain) : YamlNode(start)
{
    public string Value { get; } = value;

    /// <summary>Unquoted; only plain scalars can be null (<c>key:</c> with nothing, <c>~</c>, <c>null</c>).</summary>
    public bool IsPlain { get; } = isPlain;

    public bool IsNull => IsPlain && Value is "" or "~" or "null" or "Null" or "NULL";

    public override string Description => IsNull ? "nothing" : "a single value";
}

/// <summary>A mapping as written: keys in file order, duplicates kept (the binder reports them).</summary>
internal sealed class YamlMapping(TextPosition start, IReadOnlyList<YamlEntry> entries) : YamlNode(start)
{
    public IReadOnlyList<YamlEntry> Entries { get; } = entries;

    public override string Description => "a mapping (key: value lines)";
}

internal readonly record struct YamlEntry(YamlScalar Key, YamlNode Value);

internal sealed class YamlSequence(TextPosition start, IReadOnlyList<YamlNode> items) : YamlNode(start)
{
    public IReadOnlyList<YamlNode> Items { get; } = items;

    public override string Description => "a list";
}
