using System.Globalization;

namespace Bastion.Config;

// tunnels:
internal sealed partial class ConfigBinder
{
    private EquatableArray<TunnelConfig> BindTunnels(KeyedMapping root, BackoffConfig supervisionBackoff)
    {
        var names = new UniqueNames(errors, "give each tunnel its own name");
        var result = new List<TunnelConfig>();
        foreach (var m in Items(root, "tunnels"))
        {
            var nameAt = Require(m, "name", "admin-ssh");
            var name = Name(nameAt);
            names.Claim(name, nameAt);
            var kind = Choice(Require(m, "kind", "local (or remote, dynamic)"), ConfigChoices.TunnelKind);
            var server = BindServer(m);
            // An unknown kind was reported already: accept port 0 then, rather than guess.
            var bind = Endpoint(Require(m, "bind", "127.0.0.1:2222"), localListener: kind is null or TunnelKind.Local or TunnelKind.Dynamic);
            var target = BindTarget(m, kind);
            var (via, socks) = BindVia(m);
            var d = new TunnelConfig { Name = "", Kind = default, Server = server, Bind = Placeholder };
            result.Add(new TunnelConfig
            {
                Name = name ?? "",
                Kind = kind ?? default,
                Server = server,
                Bind = bind ?? Placeholder,
                Target = target,
                Via = via ?? d.Via,
                Socks = socks,
                Probe = BindProbe(Section(m, "probe")),
                Backoff = Get(m, "backoff") is null ? null : BindBackoff(Section(m, "backoff"), supervisionBackoff),
            });
        }
        return [.. result];
    }

    /// <summary>local and remote forward to a target; dynamic lets the SOCKS client pick one.</summary>
    private Endpoint? BindTarget(KeyedMapping m, TunnelKind? kind)
    {
        var at = Get(m, "target");
        var target = Endpoint(at);
        if (kind is TunnelKind.Local && at is null)
        {
            errors.Add(m.Node, m.PathOf("target"), "is missing; a local tunnel forwards to a target the SSH server connects to",
                "add it, e.g. target: 127.0.0.1:22");
        }
        else if (kind is TunnelKind.Remote && at is null)
        {
            errors.Add(m.Node, m.PathOf("target"), "is missing; a remote tunnel forwards the server's bind to a local target",
                "add it, e.g. target: 127.0.0.1:22 (this machine's sshd)");
        }
        else if (kind is TunnelKind.Dynamic && at is { } extra)
        {
            errors.Add(extra, "a dynamic tunnel has no target (each SOCKS client names its own)",
                "remove target, or use kind: local");
        }
        return target;
    }

    private (TunnelVia? Via, Endpoint? Socks) BindVia(KeyedMapping m)
    {
        var viaAt = Get(m, "via");
        var via = Choice(viaAt, ConfigChoices.TunnelVia);
        var socksAt = Get(m, "socks");
        var socks = Endpoint(socksAt);
        if (via is TunnelVia.Tor && viaAt is { } torVia && socksAt is null)
        {
            _facts.TorTunnelsWithoutSocks.Add(torVia); // fine when there is an onion: section
        }
        else if (socksAt is { } s && (viaAt is null || via is TunnelVia.Direct))
        {
            errors.Add(s, "is only used with via: tor", "set via: tor, or remove socks");
        }
        return (via, socks);
    }

    private SshServerConfig BindServer(KeyedMapping tunnel)
    {
        var at = RequireWithFix(tunnel, "server", "add server: with host, user, identity and hostKey under it");
        var m = Mapping(at, tunnel.Keys.Nested["server"]);
        var host = Host(Require(m, "host", "jump.example.org"));
        var port = Port(Get(m, "port"));
        var d = new SshServerConfig { Host = "", User = "", Identity = "", HostKey = new HostKeyConfig() };
        return new SshServerConfig
        {
            Host = host ?? "",
            Port = port ?? d.Port,
            User = Text(Require(m, "user", "bastion")) ?? "",
            Identity = PrivateFile(Require(m, "identity", "/etc/bastion/id_ed25519"),
                path => $"fix the path, or create the key with ssh-keygen -t ed25519 -N '' -f {path}") ?? "",
            HostKey = BindHostKey(m, host ?? "HOST", port ?? d.Port),
        };
    }

    private string? Host(Located? value)
    {
        if (value is not { } at || Text(at) is not { } host)
        {
            return null;
        }
        var colon = host.IndexOf(':', StringComparison.Ordinal);
        if (colon > 0 && colon == host.LastIndexOf(':') && int.TryParse(host[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var port))
        {
            errors.Add(at, $"'{host}' includes a port", $"write host: {host[..colon]} and port: {port}");
        }
        else if (host.Any(c => char.IsWhiteSpace(c) || c is '/' or '@'))
        {
            errors.Add(at, $"'{host}' is not a host name or address",
                "write only the name or address, e.g. jump.example.org; the login goes in user:");
        }
        return host;
    }
}
