using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Bastion.Daemon.Tunnels;

/// <summary>
/// Who is on the other end of an accepted TCP connection, for per-source limits. Everything local arrives from
/// 127.0.0.1, so an address alone would let one local user use up the share of every other local user (the admin
/// included): for a loopback peer the source is the uid owning the peer's socket, which the kernel lists in
/// /proc/net/tcp (TCP has no SO_PEERCRED). Other peers are told apart by address.
/// </summary>
internal static partial class PeerIdentity
{
    public const int SolSocket = 1, SoReuseAddr = 2;

    public static int OwnUid() => (int)geteuid();

    [LibraryImport("libc")]
    private static partial uint geteuid();

    /// <summary>"uid N" for a loopback peer whose socket the kernel lists, else the peer's address.</summary>
    public static string SourceKey(Socket accepted)
    {
        var remote = (IPEndPoint)accepted.RemoteEndPoint!;
        var address = remote.Address.IsIPv4MappedToIPv6 ? remote.Address.MapToIPv4() : remote.Address;
        if (IPAddress.IsLoopback(address) && LoopbackPeerUid(accepted) is { } uid)
        {
            return "uid " + uid.ToString(CultureInfo.InvariantCulture);
        }
        return address.ToString();
    }

    /// <summary>The uid owning the peer's end of a loopback connection; null when not loopback or not found.</summary>
    public static int? LoopbackPeerUid(Socket accepted)
    {
        if (accepted.RemoteEndPoint is not IPEndPoint remote || accepted.LocalEndPoint is not IPEndPoint local)
        {
            return null;
        }
        var address = remote.Address.IsIPv4MappedToIPv6 ? remote.Address.MapToIPv4() : remote.Address;
        if (!IPAddress.IsLoopback(address))
        {
            return null;
        }
        // The peer's socket is the row whose local port is the peer's port and whose remote port is ours.
        var table = address.AddressFamily == AddressFamily.InterNetwork && !local.Address.IsIPv4MappedToIPv6 && local.AddressFamily == AddressFamily.InterNetwork
            ? ["/proc/net/tcp"]
            : new[] { "/proc/net/tcp", "/proc/net/tcp6" };
        foreach (var path in table)
        {
            if (FindUid(path, remote.Port, local.Port) is { } uid)
            {
                return uid;
            }
        }
        return null;
    }

    private static int? FindUid(string path, int peerPort, int ourPort)
    {
        var peer = ":" + peerPort.ToString("X4", CultureInfo.InvariantCulture) + " ";
        var ours = ":" + ourPort.ToString("X4", CultureInfo.InvariantCulture) + " ";
        try
        {
            using var reader = new StreamReader(path);
            reader.ReadLine(); // header
            while (reader.ReadLine() is { } line)
            {
                // "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode"
                var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (fields.Length > 7 && (fields[1] + " ").EndsWith(peer, StringComparison.Ordinal)
                    && (fields[2] + " ").EndsWith(ours, StringComparison.Ordinal)
                    && int.TryParse(fields[7], NumberStyles.None, CultureInfo.InvariantCulture, out var uid))
                {
                    return uid;
                }
            }
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
        return null;
    }
}
