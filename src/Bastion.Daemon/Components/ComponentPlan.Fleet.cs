using Bastion.Config;
using Bastion.Daemon.Fleet;
using Bastion.Supervision;
using Microsoft.Extensions.Logging;

namespace Bastion.Daemon.Components;

public static partial class ComponentPlan
{
    /// <summary><c>fleet:</c> one <c>fleet/nats</c> component: the outbound link to the fleet's broker.</summary>
    private static void AddFleet(BastionConfig config, DaemonRuntime runtime, List<ComponentSpec> specs)
    {
        if (config.Fleet is not { } fleet)
        {
            return;
        }
        var definition = new FleetLinkDefinition(fleet, config.Paths.StateDir, config.Supervision.Backoff);
        specs.Add(new(new("fleet", "nats"), definition, config.Supervision.Backoff, () => new FleetBrokerLink(definition, runtime, runtime.Loggers.CreateLogger("Bastion.Fleet"))));
    }
}
