using Bastion.Config;
using Bastion.Daemon.Checks;
using Bastion.Supervision;

namespace Bastion.Daemon.Components;

/// <summary>
/// Turns a config into the desired set of components, in start order (what others depend on first:
/// checks, tor, onion services, tunnels, TLS endpoints, VNC, the fleet link). Each spec's definition is the config record
/// it came from, so a reload restarts a component only when its own settings changed.
/// Each section has its own part (<c>ComponentPlan.Tunnels.cs</c>, <c>ComponentPlan.Onion.cs</c>, …).
/// </summary>
public static partial class ComponentPlan
{
    /// <param name="config">The config to run.</param>
    /// <param name="runtime">What the components share (created once by the host, kept across reloads).</param>
    public static IReadOnlyList<ComponentSpec> Build(BastionConfig config, DaemonRuntime runtime)
    {
        runtime.Retain(config);
        var specs = new List<ComponentSpec>();
        AddChecks(config, runtime, specs);
        AddOnion(config, runtime, specs);
        AddTunnels(config, runtime, specs);
        AddTls(config, runtime, specs);
        AddVnc(config, runtime, specs);
        AddFleet(config, runtime, specs);
        return specs;
    }

    private static void AddChecks(BastionConfig config, DaemonRuntime runtime, List<ComponentSpec> specs)
    {
        foreach (var check in config.Checks)
        {
            specs.Add(new(new("check", check.Name), check, config.Supervision.Backoff, () => new TcpBannerCheck(check, runtime.Checks)));
        }
    }
}
