using Bastion.Config;

namespace Bastion.Daemon.Fleet;

/// <summary>
/// What the <c>fleet/nats</c> component is built from: the fleet section and where the node key lives. Compared by value,
/// so a reload restarts the broker connection only when one of these changed.
/// </summary>
public sealed record FleetLinkDefinition(FleetConfig Fleet, string StateDir, BackoffConfig Backoff)
{
    /// <summary>The JetStream key-value bucket holding every node's last sealed status (key = node name).</summary>
    public const string StatusBucket = "bastion-fleet-status";

    /// <summary>The servers as host:port, for reasons and status (the URLs never hold credentials: the config refuses them).</summary>
    public string Brokers => string.Join(", ", Fleet.Servers.Select(s => Uri.TryCreate(s, UriKind.Absolute, out var uri) ? uri.Authority : s));
}
