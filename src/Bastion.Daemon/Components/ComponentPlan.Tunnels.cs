using Bastion.Config;
using Bastion.Supervision;

namespace Bastion.Daemon.Components;

public static partial class ComponentPlan
{
    private static void AddTunnels(BastionConfig config, List<ComponentSpec> specs)
    {
        foreach (var tunnel in config.Tunnels)
        {
            specs.Add(Unavailable("tunnel", tunnel.Name, tunnel, tunnel.Backoff ?? config.Supervision.Backoff, $"SSH tunnels are not available in bastiond {DaemonVersion.Text} yet; nothing runs"));
        }
    }

    private static void TunnelsNotRunYet(BastionConfig config, List<string> sections)
    {
        if (!config.Tunnels.IsEmpty)
        {
            sections.Add("tunnels");
        }
    }
}
