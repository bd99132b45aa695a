using Bastion.Config;
using Bastion.Daemon.Tor;
using Bastion.Supervision;
using Microsoft.Extensions.Logging;

namespace Bastion.Daemon.Components;

public static partial class ComponentPlan
{
    /// <summary>
    /// One per daemon, across reloads: a tor component left untouched by a reload and onion services rebuilt by it
    /// must still meet in the same place.
    /// </summary>
    private static readonly TorRuntime Tor = new();

    private static void AddOnion(BastionConfig config, ILoggerFactory loggers, List<ComponentSpec> specs)
    {
        if (config.Onion is not { } onion)
        {
            return;
        }
        var backoff = config.Supervision.Backoff;
        var stateDir = config.Paths.StateDir;
        specs.Add(new(new("tor", "tor"), onion.Tor, backoff,
            () => new TorComponent(onion.Tor, stateDir, Tor, loggers.CreateLogger("Bastion.Tor"))));
        foreach (var service in onion.Services)
        {
            var definition = OnionServiceDefinition.Load(service, stateDir);
            specs.Add(new(new("onion", service.Name), definition, backoff,
                () => new OnionServiceComponent(definition, Tor, loggers.CreateLogger("Bastion.Onion"))));
        }
    }
}
