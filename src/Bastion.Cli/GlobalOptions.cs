using System.CommandLine;
using Bastion.Config;

namespace Bastion.Cli;

/// <summary>Options every command accepts (before or after the command name): where the daemon's runtime directory is.</summary>
internal sealed class GlobalOptions
{
    public Option<string> RuntimeDir { get; } = new("--runtime-dir")
    {
        Description = $"The daemon's runtime directory, which holds status.json [default: {PathsConfig.DefaultRuntimeDir}]",
        HelpName = "DIR",
        Recursive = true,
    };

    public Option<string> Config { get; } = new("--config")
    {
        Description = "Find the runtime directory from this config file's paths.runtimeDir instead",
        HelpName = "PATH",
        Recursive = true,
    };

    public void AddTo(RootCommand root)
    {
        root.Options.Add(RuntimeDir);
        root.Options.Add(Config);
    }
}
