using Bastion.Config;
using Bastion.Supervision;

namespace Bastion.Daemon.Components;

public static partial class ComponentPlan
{
    private static void AddVnc(BastionConfig config, List<ComponentSpec> specs)
    {
        if (config.Vnc is { Mode: not VncMode.Off } vnc)
        {
            specs.Add(Unavailable("vnc", "vnc", vnc, config.Supervision.Backoff, $"emergency VNC is not available in bastiond {DaemonVersion.Text} yet; nothing runs"));
        }
    }

    private static void VncNotRunYet(BastionConfig config, List<string> sections)
    {
        if (config.Vnc is { Mode: not VncMode.Off })
        {
            sections.Add("vnc");
        }
    }
}
