using Bastion.Config;
using Bastion.Supervision;

namespace Bastion.Daemon.Components;

public static partial class ComponentPlan
{
    private static void AddOnion(BastionConfig config, List<ComponentSpec> specs)
    {
        if (config.Onion is not { } onion)
        {
            return;
        }
        var backoff = config.Supervision.Backoff;
        specs.Add(Unavailable("tor", "tor", onion.Tor, backoff, $"managed tor is not available in bastiond {DaemonVersion.Text} yet; nothing runs"));
        foreach (var service in onion.Services)
        {
            specs.Add(Unavailable("onion", service.Name, service, backoff, $"onion services are not available in bastiond {DaemonVersion.Text} yet; nothing is published"));
        }
    }

    private static void OnionNotRunYet(BastionConfig config, List<string> sections)
    {
        if (config.Onion is not null)
        {
            sections.Add("onion");
        }
    }
}
