namespace Bastion.Daemon.Components;

// The D-Bus API is not a supervised component and adds nothing to the plan: it is the daemon's own interface, served
// beside the control loop (Hosting/DaemonService, DBus/BastionBusApi) and reconnecting by itself when the bus goes away.
