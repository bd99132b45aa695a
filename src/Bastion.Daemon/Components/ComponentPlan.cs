using Bastion.Config;
using Bastion.Daemon.Checks;
using Bastion.Supervision;

namespace Bastion.Daemon.Components;

/// <summary>
/// Turns a config into the desired set of components, in start order (what others depend on first:
/// checks, tor, onion services, tunnels, TLS endpoints, VNC). Each spec's definition is the config record
/// it came from, so a reload restarts a component only when its own settings changed.
/// </summary>
public static class ComponentPlan
{
    public static IReadOnlyList<ComponentSpec> Build(BastionConfig config)
    {
        var backoff = config.Supervision.Backoff;
        var version = DaemonVersion.Text;
        var specs = new List<ComponentSpec>();
        foreach (var check in config.Checks)
        {
            specs.Add(new(new("check", check.Name), check, backoff, () => new TcpBannerCheck(check)));
        }
        if (config.Onion is { } onion)
        {
            specs.Add(Unavailable("tor", "tor", onion.Tor, backoff, $"managed tor is not available in bastiond {version} yet; nothing runs"));
            foreach (var service in onion.Services)
            {
                specs.Add(Unavailable("onion", service.Name, service, backoff, $"onion services are not available in bastiond {version} yet; nothing is published"));
            }
        }
        foreach (var tunnel in config.Tunnels)
        {
            specs.Add(Unavailable("tunnel", tunnel.Name, tunnel, tunnel.Backoff ?? backoff, $"SSH tunnels are not available in bastiond {version} yet; nothing runs"));
        }
        foreach (var endpoint in config.Tls)
        {
            specs.Add(Unavailable("tls", endpoint.Name, endpoint, backoff, $"TLS endpoints are not available in bastiond {version} yet; nothing listens"));
        }
        if (config.Vnc is { Mode: not VncMode.Off } vnc)
        {
            specs.Add(Unavailable("vnc", "vnc", vnc, backoff, $"emergency VNC is not available in bastiond {version} yet; nothing runs"));
        }
        return specs;
    }

    /// <summary>The configured sections this version accepts and validates but cannot run yet (for --check-config).</summary>
    public static IReadOnlyList<string> NotRunYet(BastionConfig config)
    {
        var sections = new List<string>();
        if (!config.Tunnels.IsEmpty)
        {
            sections.Add("tunnels");
        }
        if (config.Onion is not null)
        {
            sections.Add("onion");
        }
        if (!config.Tls.IsEmpty)
        {
            sections.Add("tls");
        }
        if (config.Vnc is { Mode: not VncMode.Off })
        {
            sections.Add("vnc");
        }
        if (config.Pki is not null)
        {
            sections.Add("pki");
        }
        if (config.Dbus.Bus != BusKind.None)
        {
            sections.Add("dbus");
        }
        return sections;
    }

    private static ComponentSpec Unavailable(string kind, string name, object definition, BackoffConfig backoff, string reason) =>
        new(new(kind, name), definition, backoff, () => new UnavailableComponent(reason));
}
