namespace Bastion.Config;

/// <summary>Collects every problem found in one file; <see cref="InFileOrder"/> is what the admin reads.</summary>
internal sealed class ConfigErrorList(string file)
{
    private readonly List<ConfigError> _errors = [];

    public string File { get; } = file;
    public int Count => _errors.Count;

    public void Add(TextPosition at, string keyPath, string problem, string fix) =>
        _errors.Add(new ConfigError(File, at.Line, at.Column, keyPath, problem, fix));

    public void AddRange(ConfigErrorList other) => _errors.AddRange(other._errors);

    /// <summary>An error in another file the config points at (e.g. fleet.allowedSigners), with that file's position.</summary>
    public void Add(ConfigError error) => _errors.Add(error);

    public void Add(YamlNode at, string keyPath, string problem, string fix) => Add(at.Start, keyPath, problem, fix);

    public void Add(Located at, string problem, string fix) => Add(at.Node.Start, at.Path, problem, fix);

    /// <summary>Sorted by position; errors at the same place keep the order they were found in.</summary>
    public IReadOnlyList<ConfigError> InFileOrder() =>
        [.. _errors.OrderBy(e => e.Line).ThenBy(e => e.Column)];
}
