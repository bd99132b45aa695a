using System.CommandLine;
using Bastion.Config;
using Bastion.Fleet;

namespace Bastion.Cli;

/// <summary>
/// <c>bastionctl fleet node-key [--state-dir DIR] [--node NAME]</c>: prints this node's line for the admins' node list,
/// <c>NODE ssh-ed25519 BASE64</c> (the public key format of ssh tooling). The key is bastiond's; this command only reads
/// it and never creates one (a second key would be a second identity).
/// </summary>
internal sealed class FleetNodeKeyCommand(GlobalOptions globalOptions, CliConsole console)
{
    private const string DefaultConfig = "/etc/bastion/bastion.yaml";

    private readonly Option<string?> _stateDir = new("--state-dir")
    {
        Description = $"The daemon's state directory, which holds fleet/node_key [default: the config's paths.stateDir, else {PathsConfig.DefaultStateDir}]",
        HelpName = "DIR",
    };

    private readonly Option<string?> _node = new("--node")
    {
        Description = "The node's fleet name to print [default: the config's fleet.node]",
        HelpName = "NAME",
    };

    public Command Create()
    {
        var nodeKey = new Command("node-key", "Print this node's `NODE PUBLICKEY` line for the admins' node list") { _stateDir, _node };
        nodeKey.SetAction(parse => console.Run(() => Run(parse)));
        return new Command("fleet", "The fleet: `fleet node-key` prints this node's public key for the admins' node list; `fleet status` reads every node's status from the broker; `fleet send` sends a signed command") { nodeKey };
    }

    private int Run(ParseResult parse)
    {
        var stateDir = parse.GetValue(_stateDir);
        var node = parse.GetValue(_node);
        var configPath = parse.GetValue(globalOptions.Config);
        if (configPath is null && (stateDir is null || node is null) && File.Exists(DefaultConfig))
        {
            configPath = DefaultConfig;
        }
        if (configPath is not null)
        {
            var full = Path.GetFullPath(configPath);
            var result = ConfigLoader.LoadFile(full, new ConfigLoadOptions { CheckFiles = false });
            if (result.Config is null || result.Errors.Count > 0)
            {
                throw new CommandException(ExitCodes.Failed,
                    $"cannot read {full}:{Environment.NewLine}  {string.Join(Environment.NewLine + "  ", result.Errors)}{Environment.NewLine}"
                    + "fix the config, or pass --state-dir DIR and --node NAME");
            }
            stateDir ??= result.Config.Paths.StateDir;
            node ??= result.Config.Fleet?.Node;
        }
        if (node is null)
        {
            throw new CommandException(ExitCodes.Usage, "no fleet node name: the config has no fleet: section — pass --node NAME, or add fleet.node to the config");
        }
        var path = FleetNodeKey.PathIn(stateDir ?? PathsConfig.DefaultStateDir);
        if (!File.Exists(path))
        {
            throw new CommandException(ExitCodes.Failed,
                $"{path} does not exist (or cannot be seen): bastiond creates the node key on its first start with a fleet: section — start it, or pass the right --state-dir (and run as the daemon's user)");
        }
        try
        {
            using var key = FleetNodeKey.Load(path);
            console.Output.WriteLine(FleetNodeKey.NodeListLine(node, key.PublicKey));
            return ExitCodes.Ok;
        }
        catch (NodeKeyException e)
        {
            throw new CommandException(ExitCodes.Failed, e.Message);
        }
    }
}
