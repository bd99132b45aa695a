using Bastion.Config;
using Bastion.Daemon.Tunnels;
using Bastion.Supervision;

namespace Bastion.Daemon.Components;

public static partial class ComponentPlan
{
    /// <summary>
    /// What a tunnel component is built from: a change to either restarts it on reload. <c>limits</c> is left out: it
    /// is the spec's Policy, taken live by the running relay (open connections are never cut for it).
    /// </summary>
    private sealed record TunnelDefinition(TunnelConfig Tunnel, Endpoint? Socks);

    private static readonly TunnelLimitsConfig NeutralLimits = new();

    private static void AddTunnels(BastionConfig config, DaemonRuntime runtime, List<ComponentSpec> specs)
    {
        foreach (var tunnel in config.Tunnels)
        {
            // via: tor goes through the tunnel's own SOCKS address, else the managed tor's SocksPort.
            var socks = tunnel.Via == TunnelVia.Tor ? tunnel.Socks ?? config.Onion?.Tor.SocksPort : null;
            specs.Add(new(new("tunnel", tunnel.Name), new TunnelDefinition(tunnel with { Limits = NeutralLimits }, socks),
                tunnel.Backoff ?? config.Supervision.Backoff, () => new TunnelComponent(tunnel, socks, runtime.Sessions))
            {
                Policy = tunnel.Limits,
            });
        }
    }
}
