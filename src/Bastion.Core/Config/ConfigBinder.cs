using System.Diagnostics;

namespace Bastion.Config;

/// <summary>
/// Walks the YAML tree into the immutable records of <see cref="BastionConfig"/>. Every problem is added to
/// the error list and binding carries on, so one run reports all of them; when any error was reported the
/// returned config must be thrown away (it may hold placeholder values).
/// This file: the walk over mappings and lists. Values, files and each section have their own file.
/// </summary>
internal sealed partial class ConfigBinder(ConfigErrorList errors, string baseDirectory, ConfigLoadOptions options)
{
    /// <summary>Stands in for a required endpoint that was reported missing or wrong (the config is discarded then).</summary>
    private static readonly Endpoint Placeholder = new("", 0);

    private readonly ConfigFacts _facts = new();

    /// <summary>Schema paths of every key the binder looked up (a test proves none is left unbound).</summary>
    internal HashSet<string> KeysRead { get; } = new(StringComparer.Ordinal);

    public BastionConfig Bind(YamlNode? root, string sourcePath)
    {
        var empty = BastionConfig.Empty with { SourcePath = sourcePath };
        if (root is null or YamlScalar { IsNull: true })
        {
            return empty;
        }
        if (root is not YamlMapping)
        {
            errors.Add(root, "", $"the file must be a mapping of sections, found {root.Description}",
                "write each section as a key at the start of a line, e.g. tunnels: (sections: " + string.Join(", ", ConfigSchema.Root.Keys) + ")");
            return empty;
        }
        var m = Mapping(new Located(root, ""), ConfigSchema.Root)!;
        var supervision = BindSupervision(Section(m, "supervision"));
        var config = new BastionConfig
        {
            SourcePath = sourcePath,
            Paths = BindPaths(Section(m, "paths")),
            Logging = BindLogging(Section(m, "logging")),
            Supervision = supervision,
            Checks = BindChecks(m),
            Tunnels = BindTunnels(m, supervision.Backoff),
            Onion = BindOnion(m),
            Vnc = BindVnc(Section(m, "vnc")),
            Pki = BindPki(m),
            Tls = BindTls(m),
            Dbus = BindDbus(Section(m, "dbus")),
            Metrics = BindMetrics(Section(m, "metrics")),
            Fleet = BindFleet(Section(m, "fleet")),
        };
        ConfigValidator.Validate(_facts, errors);
        return config;
    }

    /// <summary>The value of an optional key; null when absent or written as null (<c>key:</c>, <c>~</c>).</summary>
    private Located? Get(KeyedMapping? m, string key)
    {
        if (m is null)
        {
            return null;
        }
        Debug.Assert(m.Keys.Contains(key), $"'{key}' is not in the schema of {m.Keys.Path}");
        KeysRead.Add(m.Keys.PathOf(key));
        if (!m.TryGet(key, out var entry) || entry.Value is YamlScalar { IsNull: true })
        {
            return null;
        }
        return new Located(entry.Value, m.PathOf(key));
    }

    /// <summary>The value of a required key; reports it missing (at the parent mapping) or empty (at the key).</summary>
    private Located? Require(KeyedMapping? m, string key, string example) =>
        RequireWithFix(m, key, $"add it, e.g. {key}: {example}");

    private Located? RequireWithFix(KeyedMapping? m, string key, string fix)
    {
        var value = Get(m, key);
        if (value is null && m is not null)
        {
            if (m.TryGet(key, out var entry))
            {
                errors.Add(entry.Key, m.PathOf(key), "has no value", fix);
            }
            else
            {
                errors.Add(m.Node, m.PathOf(key), "is missing", fix);
            }
        }
        return value;
    }

    /// <summary>The mapping under <paramref name="key"/>, checked against the schema; null when absent.</summary>
    private KeyedMapping? Section(KeyedMapping? parent, string key) =>
        parent is null ? null : Mapping(Get(parent, key), parent.Keys.Nested[key]);

    /// <summary>The entries of a list of mappings (<c>tunnels:</c>), with their index; bad entries are reported and skipped.</summary>
    private List<KeyedMapping> Items(KeyedMapping? parent, string key)
    {
        var result = new List<KeyedMapping>();
        if (parent is null || Sequence(Get(parent, key)) is not { } items)
        {
            return result;
        }
        var keys = parent.Keys.Nested[key];
        foreach (var item in items)
        {
            if (item.Node is YamlScalar { IsNull: true })
            {
                errors.Add(item, "is an empty list entry", "fill it in or remove the '-' line");
            }
            else if (Mapping(item, keys) is { } entry)
            {
                result.Add(entry);
            }
        }
        return result;
    }

    private KeyedMapping? Mapping(Located? value, KeySet keys)
    {
        if (value is not { } v)
        {
            return null;
        }
        if (v.Node is not YamlMapping node)
        {
            TypeError(v, "a mapping (key: value lines)",
                "indent its keys under it, one key: value per line" + (keys.Keys.Count > 0 ? $" (keys: {string.Join(", ", keys.Keys)})" : ""));
            return null;
        }
        var entries = new Dictionary<string, YamlEntry>(StringComparer.Ordinal);
        foreach (var entry in node.Entries)
        {
            var key = entry.Key.Value;
            if (!keys.Contains(key))
            {
                errors.Add(entry.Key, PathOf(v.Path, key), "unknown key", UnknownKeyFix(key, keys));
            }
            else if (entries.TryGetValue(key, out var first))
            {
                errors.Add(entry.Key, PathOf(v.Path, key), $"is set twice (first on line {first.Key.Start.Line})",
                    "keep one of them");
            }
            else
            {
                entries.Add(key, entry);
            }
        }
        return new KeyedMapping(node, v.Path, keys, entries);
    }

    private static string UnknownKeyFix(string key, KeySet keys)
    {
        if (Suggestions.Closest(key, keys.Keys) is { } near)
        {
            return $"did you mean '{near}'?";
        }
        var owners = keys.Nested.Values.Where(n => n.Contains(key)).Select(n => n.Name).ToList();
        if (owners.Count == 1)
        {
            return $"move it under '{owners[0]}:'";
        }
        return keys.Keys.Count == 0 ? "remove it" : "valid keys here: " + string.Join(", ", keys.Keys);
    }

    private List<Located>? Sequence(Located? value)
    {
        if (value is not { } v)
        {
            return null;
        }
        if (v.Node is not YamlSequence node)
        {
            TypeError(v, "a list", "write one '- item' line per entry, or [a, b] on one line");
            return null;
        }
        return [.. node.Items.Select((item, i) => new Located(item, $"{v.Path}[{i}]"))];
    }

    private void TypeError(Located v, string expected, string fix) =>
        errors.Add(v, $"expected {expected}, found {v.Node.Description}", fix);

    private static string PathOf(string parent, string key) => parent.Length == 0 ? key : parent + "." + key;
}
