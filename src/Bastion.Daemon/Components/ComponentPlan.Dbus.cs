using Bastion.Config;

namespace Bastion.Daemon.Components;

public static partial class ComponentPlan
{
    private static void DbusNotRunYet(BastionConfig config, List<string> sections)
    {
        if (config.Dbus.Bus != BusKind.None)
        {
            sections.Add("dbus");
        }
    }
}
