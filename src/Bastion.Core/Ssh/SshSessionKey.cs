using Bastion.Config;

namespace Bastion.Ssh;

/// <summary>
/// Tunnels whose keys are equal share one SSH session: same server, login, identity, host key policy and route.
/// 200 forwards to one gateway are 200 channels in one session, not 200 sessions.
/// </summary>
public sealed record SshSessionKey(string Host, int Port, string User, string Identity, HostKeyConfig HostKey, Endpoint? Socks)
{
    public static SshSessionKey For(TunnelConfig tunnel, Endpoint? socks) =>
        new(tunnel.Server.Host, tunnel.Server.Port, tunnel.Server.User, tunnel.Server.Identity, tunnel.Server.HostKey,
            tunnel.Via == TunnelVia.Tor ? socks : null);

    /// <summary>As status shows it: <c>user@host:port</c>, plus the proxy when there is one.</summary>
    public override string ToString() =>
        $"{User}@{new Endpoint(Host, Port)}" + (Socks is { } s ? $" via socks {s}" : "");
}
