using System.Net;
using System.Net.Sockets;
using Bastion.Daemon.Tunnels;

namespace Bastion.Daemon.Tests.Tunnels;

/// <summary>Who owns the other end of a loopback connection: the kernel's answer by four-tuple and the socket table agree.</summary>
public sealed class PeerIdentityTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(20);

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task The_kernel_names_the_same_owner_of_a_loopback_peer_as_the_socket_table_does(bool dualModeListener)
    {
        using var listener = dualModeListener
            ? new Socket(AddressFamily.InterNetworkV6, SocketType.Stream, ProtocolType.Tcp) { DualMode = true }
            : new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(dualModeListener ? new IPEndPoint(IPAddress.IPv6Any, 0) : new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen();
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        var accept = listener.AcceptAsync();
        await client.ConnectAsync(IPAddress.Loopback, ((IPEndPoint)listener.LocalEndPoint!).Port).WaitAsync(Limit);
        using var accepted = await accept.WaitAsync(Limit);

        var remote = (IPEndPoint)accepted.RemoteEndPoint!;
        var local = (IPEndPoint)accepted.LocalEndPoint!;
        var (found, uid) = SocketDiag.PeerUid(remote.Address.IsIPv4MappedToIPv6 ? remote.Address.MapToIPv4() : remote.Address, remote.Port,
            local.Address.IsIPv4MappedToIPv6 ? local.Address.MapToIPv4() : local.Address, local.Port);

        Assert.True(found, "sock_diag did not find the peer's socket");
        Assert.Equal((int)Bastion.Daemon.Hosting.DirectoryCheck.EffectiveUid, uid);
        Assert.Equal(uid, PeerIdentity.FromSocketTable(remote, local));
        Assert.Equal(uid, PeerIdentity.LoopbackPeerUid(accepted));
        Assert.Equal($"uid {uid}", PeerIdentity.SourceKey(accepted));
    }

    [Fact]
    public void A_socket_that_does_not_exist_is_not_found()
    {
        // Port 1 to port 1 on loopback: no such connection.
        var (found, _) = SocketDiag.PeerUid(IPAddress.Loopback, 1, IPAddress.Loopback, 1);
        Assert.False(found);
        Assert.True(SocketDiag.Available);
    }
}
