using Bastion.Ssh;
using Renci.SshNet;

namespace Bastion.Daemon.Tunnels;

/// <summary>
/// Builds SSH.NET connection info that offers only <see cref="SshAlgorithms"/>, in their order, and of the host key
/// algorithms only those the host key policy can trust (<see cref="HostKeyPolicy.HostKeyAlgorithms"/>).
/// </summary>
internal static class SshConnectionSettings
{
    public static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(15);

    public static ConnectionInfo Create(SshSessionKey key, IReadOnlyList<string> hostKeyAlgorithms, params AuthenticationMethod[] auth)
    {
        var info = key.Socks is { } socks
            // SOCKS5 with the host NAME (ATYP 3): tor resolves it, so .onion servers work and no DNS leaks.
            // SSH.NET offers both "no auth" and "username/password" and fails with a NullReferenceException when the
            // proxy picks the latter without credentials — which tor's SocksPort does. So credentials are always given:
            // a proxy that wants none (OpenSSH's -D) picks "no auth"; tor accepts any and uses them only to keep
            // streams with different credentials on different circuits (IsolateSOCKSAuth): one per SSH session.
            ? new ConnectionInfo(key.Host, key.Port, key.User, ProxyTypes.Socks5, socks.Host, socks.Port,
                SocksUser, SocksIsolation(key), auth)
            : new ConnectionInfo(key.Host, key.Port, key.User, auth);
        info.Timeout = ConnectTimeout;
        info.ChannelCloseTimeout = TimeSpan.FromSeconds(2);
        Restrict(info.KeyExchangeAlgorithms, SshAlgorithms.KeyExchange);
        Restrict(info.Encryptions, SshAlgorithms.Ciphers);
        Restrict(info.HmacAlgorithms, SshAlgorithms.Macs);
        Restrict(info.HostKeyAlgorithms, hostKeyAlgorithms);
        return info;
    }

    private const string SocksUser = "bastion";

    /// <summary>Not a secret: a stable token per session, so tor isolates each SSH session's circuit.</summary>
    private static string SocksIsolation(SshSessionKey key) =>
        Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(
            System.Text.Encoding.UTF8.GetBytes($"{key.User}@{key.Host}:{key.Port}")))[..16];

    private static void Restrict<T>(IDictionary<string, T> algorithms, IReadOnlyList<string> allowed)
    {
        var keep = SshAlgorithms.Restrict(algorithms.Keys, allowed).Select(name => (name, algorithms[name])).ToList();
        if (keep.Count == 0)
        {
            throw new InvalidOperationException($"SSH.NET supports none of {string.Join(", ", allowed)}");
        }
        algorithms.Clear();
        foreach (var (name, value) in keep)
        {
            algorithms.Add(name, value);
        }
    }
}
