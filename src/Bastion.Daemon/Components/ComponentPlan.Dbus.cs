namespace Bastion.Daemon.Components;

/// <summary>
/// The D-Bus API is not a supervised component: it is the daemon's own interface, served beside the control loop
/// (Hosting/DaemonService, DBus/BastionBusApi), reconnecting by itself when the bus goes away. Nothing to add here, and
/// nothing left that this version does not run.
/// </summary>
public static partial class ComponentPlan
{
    private static void DbusNotRunYet(Config.BastionConfig config, List<string> sections)
    {
        _ = config;
        _ = sections;
    }
}
