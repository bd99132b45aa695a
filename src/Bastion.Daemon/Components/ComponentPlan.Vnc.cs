using Bastion.Config;
using Bastion.Daemon.Vnc;
using Bastion.Supervision;
using Bastion.Vnc;
using Microsoft.Extensions.Logging;

namespace Bastion.Daemon.Components;

public static partial class ComponentPlan
{
    /// <summary>
    /// What the desktop's processes are built from: a change here (display, geometry, session, password file, endpoint,
    /// executable, paths) rebuilds it on reload (connected admins are cut off, an override is dropped). The policy part
    /// (vnc.mode always/fallback, vnc.fallback.*) is left out: it is the spec's Policy, applied live.
    /// </summary>
    private sealed record VncDefinition(VncConfig Vnc, PathsConfig Paths);

    private static void AddVnc(BastionConfig config, DaemonRuntime runtime, List<ComponentSpec> specs)
    {
        if (config.Vnc is { Mode: not VncMode.Off } vnc)
        {
            var processes = vnc with { Mode = VncMode.Always, Fallback = new(), StockViewers = VncStockViewers.Explain }; // stockViewers: the endpoint's
            specs.Add(new(new("vnc", "desktop"), new VncDefinition(processes, config.Paths), config.Supervision.Backoff,
                () => new VncComponent(config, runtime.Checks, runtime.VncGates, runtime.Loggers.CreateLogger("Bastion.Vnc")))
            {
                Policy = VncPolicySettings.From(vnc),
            });
        }
    }
}
