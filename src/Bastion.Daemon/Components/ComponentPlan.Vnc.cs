using Bastion.Config;
using Bastion.Daemon.Vnc;
using Bastion.Supervision;
using Microsoft.Extensions.Logging;

namespace Bastion.Daemon.Components;

public static partial class ComponentPlan
{
    /// <summary>What the desktop is built from: a change to vnc: or to the paths restarts it on reload (an override is then dropped).</summary>
    private sealed record VncDefinition(VncConfig Vnc, PathsConfig Paths);

    private static void AddVnc(BastionConfig config, DaemonRuntime runtime, List<ComponentSpec> specs)
    {
        if (config.Vnc is { Mode: not VncMode.Off } vnc)
        {
            specs.Add(new(new("vnc", "desktop"), new VncDefinition(vnc, config.Paths), config.Supervision.Backoff,
                () => new VncComponent(config, runtime.Checks, runtime.VncGates, runtime.Loggers.CreateLogger("Bastion.Vnc"))));
        }
    }
}
