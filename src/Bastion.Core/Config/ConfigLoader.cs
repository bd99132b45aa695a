namespace Bastion.Config;

/// <summary>How <see cref="ConfigLoader"/> checks a config beyond its text.</summary>
public sealed record ConfigLoadOptions
{
    /// <summary>
    /// Check the files the config points at: private keys and password files must exist and be private
    /// (no group or other permission bits, like OpenSSH's StrictModes); certificates, CAs and known_hosts
    /// must exist. Off for configs that describe another machine (tests, linting the example).
    /// </summary>
    public bool CheckFiles { get; init; } = true;
}

/// <summary>
/// Reads and validates the YAML config. Never throws for anything wrong in the file: the result holds either a
/// <see cref="BastionConfig"/> or every error found, each printed as
/// <c>FILE:LINE:COL: key.path: what is wrong — how to fix it</c>, in file order.
/// </summary>
public static class ConfigLoader
{
    /// <summary>Where the daemon and bastionctl look when no <c>--config</c> is given.</summary>
    public const string DefaultPath = "/etc/bastion/bastion.yaml";

    /// <summary>Loads <paramref name="path"/>; an unreadable file is one error with line 0.</summary>
    public static ConfigLoadResult LoadFile(string path, ConfigLoadOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var fullPath = Path.GetFullPath(path);
        string text;
        try
        {
            text = File.ReadAllText(fullPath);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            var (reason, fix) = e switch
            {
                FileNotFoundException or DirectoryNotFoundException =>
                    ("No such file or directory", "create it (see config/bastion.example.yaml) or pass --config PATH"),
                UnauthorizedAccessException when Directory.Exists(fullPath) =>
                    ("Is a directory", "pass the path of the YAML file itself with --config PATH"),
                UnauthorizedAccessException =>
                    ("Permission denied", "run as root (the daemon reads it as root) or pass --config PATH"),
                _ => (e.Message, "check the file, or pass --config PATH"),
            };
            return ConfigLoadResult.Failure([new ConfigError(fullPath, 0, 0, "", "cannot read the config file: " + reason, fix)]);
        }
        return LoadText(text, fullPath, options);
    }

    /// <summary>
    /// Loads YAML text. <paramref name="fileName"/> names the file in messages and, through its directory,
    /// anchors relative paths in the config.
    /// </summary>
    public static ConfigLoadResult LoadText(string yaml, string fileName, ConfigLoadOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(yaml);
        ArgumentException.ThrowIfNullOrEmpty(fileName);
        var fullPath = Path.GetFullPath(fileName);
        var errors = new ConfigErrorList(fullPath);
        var root = YamlTreeReader.Read(yaml, errors);
        if (errors.Count > 0)
        {
            return ConfigLoadResult.Failure(errors.InFileOrder());
        }
        var binder = new ConfigBinder(errors, Path.GetDirectoryName(fullPath) ?? "/", options ?? new ConfigLoadOptions());
        var config = binder.Bind(root, fullPath);
        return errors.Count > 0 ? ConfigLoadResult.Failure(errors.InFileOrder()) : ConfigLoadResult.Success(config);
    }
}
