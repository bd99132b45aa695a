using System.Globalization;

namespace Bastion.Config;

// tunnels:
internal sealed partial class ConfigBinder
{
    private EquatableArray<TunnelConfig> BindTunnels(KeyedMapping root, BackoffConfig supervisionBackoff)
    {
        var names = new UniqueNames(errors, "give each tunnel its own name");
        var result = new List<TunnelConfig>();
        var binds = new List<(string Name, TunnelKind Kind, Endpoint Bind, SshServerConfig Server, Located At)>();
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
            var expose = Choice(Get(m, "exposeBeyondLoopback"), YesNo) ?? d.ExposeBeyondLoopback;
            if (bind is not null && kind is { } k && Get(m, "bind") is { } bindAt)
            {
                CheckExposure(k, bind, expose, bindAt);
                CheckDuplicateBind(binds, name ?? "?", k, bind, server, bindAt);
            }
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
                Limits = BindLimits(Section(m, "limits")),
                ExposeBeyondLoopback = expose,
                Backoff = Get(m, "backoff") is null ? null : BindBackoff(Section(m, "backoff"), supervisionBackoff),
            });
        }
        return [.. result];
    }

    private static readonly Choices<bool> YesNo = new(("true", true), ("false", false));

    private TunnelLimitsConfig BindLimits(KeyedMapping? m)
    {
        var d = new TunnelLimitsConfig();
        var connections = Integer(Get(m, "connections"), 1, 100_000) ?? d.Connections;
        var perSourceAt = Get(m, "perSource");
        var perSource = Integer(perSourceAt, 1, 100_000) ?? d.PerSource;
        if (perSourceAt is { } at && perSource > connections)
        {
            errors.Add(at, $"{perSource} is more than limits.connections ({connections})", $"use at most {connections}, or raise connections");
        }
        return new TunnelLimitsConfig { Connections = connections, PerSource = Math.Min(perSource, connections) };
    }

    /// <summary>
    /// A local or dynamic tunnel listens for anyone who reaches its bind, without authentication: beyond loopback that
    /// must be asked for in so many words (a dynamic one would be an open proxy into the server's network).
    /// </summary>
    private void CheckExposure(TunnelKind kind, Endpoint bind, bool expose, Located at)
    {
        if (kind is TunnelKind.Remote || expose || IsLoopback(bind.Host))
        {
            return;
        }
        var what = kind is TunnelKind.Dynamic
            ? "an unauthenticated SOCKS proxy into the server's network for anyone who reaches it"
            : "an unauthenticated way to the target for anyone who reaches it";
        errors.Add(at, $"'{bind}' listens beyond loopback: the tunnel would be {what}",
            $"bind to 127.0.0.1:{bind.Port} (or [::1]:{bind.Port}), or add exposeBeyondLoopback: true to this tunnel if that is really meant");
    }

    private static bool IsLoopback(string host) =>
        string.Equals(host, "localhost", StringComparison.OrdinalIgnoreCase)
        || (System.Net.IPAddress.TryParse(host, out var address) && System.Net.IPAddress.IsLoopback(address));

    /// <summary>
    /// Two listeners on one address and port would either fail at run time or (with port sharing) have the kernel
    /// split connections between two targets. Local and dynamic binds share this machine's ports; remote binds the
    /// ports of their server.
    /// </summary>
    private void CheckDuplicateBind(List<(string Name, TunnelKind Kind, Endpoint Bind, SshServerConfig Server, Located At)> seen,
        string name, TunnelKind kind, Endpoint bind, SshServerConfig server, Located at)
    {
        if (bind.Port == 0)
        {
            return; // any free port: never the same
        }
        var remote = kind is TunnelKind.Remote;
        foreach (var other in seen)
        {
            var otherRemote = other.Kind is TunnelKind.Remote;
            if (otherRemote != remote || other.Bind.Port != bind.Port || !Overlap(other.Bind.Host, bind.Host))
            {
                continue;
            }
            if (remote && !(string.Equals(other.Server.Host, server.Host, StringComparison.OrdinalIgnoreCase) && other.Server.Port == server.Port))
            {
                continue;
            }
            var where = remote ? $"on server {server.Host}:{server.Port}" : "on this machine";
            errors.Add(at, $"tunnel '{name}' binds {bind} {where}, which tunnel '{other.Name}' (line {other.At.Node.Start.Line}) already binds",
                $"give tunnel '{name}' or tunnel '{other.Name}' another port: one port carries one tunnel");
            return;
        }
        seen.Add((name, kind, bind, server, at));
    }

    /// <summary>Same address, or either is a wildcard (which takes the port on every address).</summary>
    private static bool Overlap(string a, string b) =>
        string.Equals(a, b, StringComparison.OrdinalIgnoreCase) || a is "0.0.0.0" or "::" or "*" or "" || b is "0.0.0.0" or "::" or "*" or "";

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
