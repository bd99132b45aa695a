using System.CommandLine;
using Bastion.Config;

namespace Bastion.Cli;

/// <summary>
/// Where the daemon keeps its runtime files: <c>--runtime-dir DIR</c>, or <c>paths.runtimeDir</c> of <c>--config PATH</c>
/// (a relative value resolves against the config file's directory), or <c>/run/bastion</c>.
/// </summary>
internal static class RuntimeDirectory
{
    public static string Resolve(ParseResult parseResult, GlobalOptions options)
    {
        var runtimeDir = parseResult.GetValue(options.RuntimeDir);
        var configPath = parseResult.GetValue(options.Config);
        if (runtimeDir is not null && configPath is not null)
        {
            throw new CommandException(ExitCodes.Usage,
                "--runtime-dir and --config both say where the daemon is — pass only one of them");
        }
        if (runtimeDir is not null)
        {
            if (runtimeDir.Length == 0)
            {
                throw new CommandException(ExitCodes.Usage, "--runtime-dir is empty — pass a directory, e.g. --runtime-dir /run/bastion");
            }
            return Path.GetFullPath(runtimeDir);
        }
        if (configPath is not null)
        {
            return FromConfig(configPath);
        }
        return PathsConfig.DefaultRuntimeDir;
    }

    private static string FromConfig(string configPath)
    {
        if (configPath.Length == 0)
        {
            throw new CommandException(ExitCodes.Usage, "--config is empty — pass the config file, e.g. --config /etc/bastion/bastion.yaml");
        }
        var fullPath = Path.GetFullPath(configPath);

        // CheckFiles = false: only paths.runtimeDir matters here, and the admin running bastionctl may not be allowed
        // to read the keys the config points at.
        var result = ConfigLoader.LoadFile(fullPath, new ConfigLoadOptions { CheckFiles = false });
        if (result.Config is null || result.Errors.Count > 0)
        {
            var errors = result.Errors.Count == 0 ? "(no error reported)" : string.Join(Environment.NewLine + "  ", result.Errors);
            throw new CommandException(ExitCodes.Failed,
                $"cannot read paths.runtimeDir from {fullPath}:{Environment.NewLine}  {errors}{Environment.NewLine}"
                + "pass the runtime directory directly instead, e.g. --runtime-dir /run/bastion");
        }
        var dir = result.Config.Paths.RuntimeDir;
        if (string.IsNullOrWhiteSpace(dir))
        {
            throw new CommandException(ExitCodes.Failed, $"{fullPath}: paths.runtimeDir is empty — pass --runtime-dir DIR instead");
        }

        // The loader may already have made it absolute; resolving again is harmless then.
        return Path.GetFullPath(dir, Path.GetDirectoryName(fullPath) ?? "/");
    }
}
