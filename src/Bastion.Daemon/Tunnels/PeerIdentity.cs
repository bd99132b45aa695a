using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Bastion.Daemon.Tunnels;

/// <summary>
/// Who is on the other end of an accepted TCP connection, for per-source limits. Everything local arrives from
/// 127.0.0.1, so an address alone would let one local user use up the share of every other local user (the admin
/// included): for a loopback peer the source is the uid owning the peer's socket, which the kernel lists in
/// its socket table (TCP has no SO_PEERCRED): asked by four-tuple through sock_diag (<see cref="SocketDiag"/>), or read
/// from /proc/net/tcp where netlink is not allowed. Other peers are told apart by address, without asking the kernel.
/// </summary>
internal static partial class PeerIdentity
{
    public const int SolSocket = 1, SoReuseAddr = 2;

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
        // The kernel finds the peer's socket by its four-tuple (sock_diag): constant cost whatever the number of
        // sockets on the machine. Only where netlink is not allowed, the socket table is read line by line.
        var ourAddress = local.Address.IsIPv4MappedToIPv6 ? local.Address.MapToIPv4() : local.Address;
        switch (SocketDiag.PeerUid(address, remote.Port, ourAddress, local.Port))
        {
            case (true, var found):
                return found;
            case (false, _) when SocketDiag.Available:
                return null; // asked and not found (the peer is gone already)
        }
        return FromSocketTable(remote, local);
    }

    /// <summary>The peer's uid read from /proc/net/tcp(6): the row whose local port is the peer's and whose remote port is ours.</summary>
    internal static int? FromSocketTable(IPEndPoint remote, IPEndPoint local)
    {
        var address = remote.Address.IsIPv4MappedToIPv6 ? remote.Address.MapToIPv4() : remote.Address;
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
