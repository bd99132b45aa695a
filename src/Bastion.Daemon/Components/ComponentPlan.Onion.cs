using Bastion.Config;
using Bastion.Daemon.Tor;
using Bastion.Supervision;

namespace Bastion.Daemon.Components;

public static partial class ComponentPlan
{
    // The tor component and the onion services meet in runtime.Tor (one per daemon, across reloads): a tor component left
    // untouched by a reload and onion services rebuilt by it must still meet in the same place.
    private static void AddOnion(BastionConfig config, DaemonRuntime runtime, List<ComponentSpec> specs)
    {
        var loggers = runtime.Loggers;
        if (config.Onion is not { } onion)
        {
            return;
        }
        var backoff = config.Supervision.Backoff;
        var stateDir = config.Paths.StateDir;
        specs.Add(new(new("tor", "tor"), onion.Tor, backoff,
            () => new TorComponent(onion.Tor, stateDir, runtime.Tor, loggers.CreateLogger("Bastion.Tor"))));
        foreach (var service in onion.Services)
        {
            var definition = OnionServiceDefinition.Load(service, stateDir);
            specs.Add(new(new("onion", service.Name), definition, backoff,
                () => new OnionServiceComponent(definition, runtime.Tor, loggers.CreateLogger("Bastion.Onion"))));
        }
    }
}
