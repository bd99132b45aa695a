using Bastion.Config;
using Bastion.Daemon.Checks;
using Bastion.Supervision;
using Microsoft.Extensions.Logging;

namespace Bastion.Daemon.Components;

/// <summary>
/// Turns a config into the desired set of components, in start order (what others depend on first:
/// checks, tor, onion services, tunnels, TLS endpoints, VNC). Each spec's definition is the config record
/// it came from, so a reload restarts a component only when its own settings changed.
/// Each section has its own part (<c>ComponentPlan.Tunnels.cs</c>, <c>ComponentPlan.Onion.cs</c>, …).
/// </summary>
public static partial class ComponentPlan
{
    /// <param name="config">The config to run.</param>
    /// <param name="loggers">The host's logger factory (Serilog is configured once, at the entry point).</param>
    public static IReadOnlyList<ComponentSpec> Build(BastionConfig config, ILoggerFactory loggers)
    {
        var specs = new List<ComponentSpec>();
        AddChecks(config, specs);
        AddOnion(config, loggers, specs);
        AddTunnels(config, specs);
        AddTls(config, loggers, specs);
        AddVnc(config, loggers, specs);
        return specs;
    }

    private static void AddChecks(BastionConfig config, List<ComponentSpec> specs)
    {
        foreach (var check in config.Checks)
        {
            specs.Add(new(new("check", check.Name), check, config.Supervision.Backoff, () => new TcpBannerCheck(check)));
        }
    }
}
