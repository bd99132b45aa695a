namespace Bastion.Config;

/// <summary>A node and the key path an error about it names (<c>tunnels[2].server.port</c>).</summary>
internal readonly record struct Located(YamlNode Node, string Path);

/// <summary>
/// A mapping whose keys were checked against its <see cref="KeySet"/>: unknown and duplicate keys are
/// already reported, and a duplicate never shadows the first occurrence.
/// </summary>
internal sealed class KeyedMapping(YamlMapping node, string path, KeySet keys, IReadOnlyDictionary<string, YamlEntry> entries)
{
    public YamlMapping Node { get; } = node;

    /// <summary>The key path of this mapping (<c>tunnels[2].server</c>; empty for the root).</summary>
    public string Path { get; } = path;

    public KeySet Keys { get; } = keys;

    public bool TryGet(string key, out YamlEntry entry) => entries.TryGetValue(key, out entry);

    public string PathOf(string key) => Path.Length == 0 ? key : Path + "." + key;
}
