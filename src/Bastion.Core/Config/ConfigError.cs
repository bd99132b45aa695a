namespace Bastion.Config;

/// <summary>
/// One config problem, printed as <c>FILE:LINE:COL: key.path: what is wrong — how to fix it</c>.
/// Line and column are 1-based; 0 when the problem has no place in the file (e.g. the file is missing).
/// </summary>
public sealed record ConfigError(string File, int Line, int Column, string KeyPath, string Problem, string? Fix)
{
    public override string ToString()
    {
        var where = Line > 0 ? $"{File}:{Line}:{Column}" : File;
        var key = KeyPath.Length > 0 ? KeyPath + ": " : "";
        var fix = string.IsNullOrEmpty(Fix) ? "" : " — " + Fix;
        return $"{where}: {key}{Problem}{fix}";
    }
}

/// <summary>Either a config, or every error found (never both, never neither).</summary>
public sealed record ConfigLoadResult(BastionConfig? Config, IReadOnlyList<ConfigError> Errors)
{
    public bool Ok => Config is not null && Errors.Count == 0;

    public static ConfigLoadResult Success(BastionConfig config) => new(config, []);
    public static ConfigLoadResult Failure(IReadOnlyList<ConfigError> errors) => new(null, errors);
}
