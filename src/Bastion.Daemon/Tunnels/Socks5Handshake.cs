using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Bastion.Daemon.Tunnels;

/// <summary>
/// The server side of a SOCKS5 CONNECT (RFC 1928, no authentication) for dynamic tunnels. Bastion speaks SOCKS itself
/// instead of using SSH.NET's dynamic forward because that one can write the destination's first bytes before its
/// SOCKS reply: a server-speaks-first destination (sshd's banner, SMTP) then breaks the client's handshake.
/// </summary>
internal static class Socks5Handshake
{
    public const byte ReplySucceeded = 0, ReplyGeneralFailure = 1, ReplyHostUnreachable = 4, ReplyCommandNotSupported = 7, ReplyAddressNotSupported = 8;

    /// <summary>Reads greeting and request; returns the destination, or null after telling the client why not.</summary>
    public static async Task<(string Host, int Port)?> ReadRequestAsync(Socket client, CancellationToken cancellationToken)
    {
        var head = new byte[2];
        await ReceiveExactlyAsync(client, head, cancellationToken).ConfigureAwait(false);
        if (head[0] != 5)
        {
            return null; // not SOCKS5 (SOCKS4 is not offered): just close
        }
        var methods = new byte[head[1]];
        await ReceiveExactlyAsync(client, methods, cancellationToken).ConfigureAwait(false);
        if (Array.IndexOf(methods, (byte)0) < 0)
        {
            await client.SendAsync(new byte[] { 5, 0xFF }, SocketFlags.None, cancellationToken).ConfigureAwait(false);
            return null;
        }
        await client.SendAsync(new byte[] { 5, 0 }, SocketFlags.None, cancellationToken).ConfigureAwait(false);
        var request = new byte[4];
        await ReceiveExactlyAsync(client, request, cancellationToken).ConfigureAwait(false);
        if (request[0] != 5 || request[1] != 1)
        {
            await ReplyAsync(client, ReplyCommandNotSupported, cancellationToken).ConfigureAwait(false);
            return null;
        }
        string host;
        switch (request[3])
        {
            case 1:
            case 4:
            {
                var address = new byte[request[3] == 1 ? 4 : 16];
                await ReceiveExactlyAsync(client, address, cancellationToken).ConfigureAwait(false);
                host = new IPAddress(address).ToString();
                break;
            }
            case 3:
            {
                var length = new byte[1];
                await ReceiveExactlyAsync(client, length, cancellationToken).ConfigureAwait(false);
                var name = new byte[length[0]];
                await ReceiveExactlyAsync(client, name, cancellationToken).ConfigureAwait(false);
                host = Encoding.ASCII.GetString(name);
                break;
            }
            default:
                await ReplyAsync(client, ReplyAddressNotSupported, cancellationToken).ConfigureAwait(false);
                return null;
        }
        var port = new byte[2];
        await ReceiveExactlyAsync(client, port, cancellationToken).ConfigureAwait(false);
        return (host, BinaryPrimitives.ReadUInt16BigEndian(port));
    }

    /// <summary>A reply with an all-zero IPv4 bound address: clients do not use it for CONNECT.</summary>
    public static async Task ReplyAsync(Socket client, byte code, CancellationToken cancellationToken) =>
        await client.SendAsync(new byte[] { 5, code, 0, 1, 0, 0, 0, 0, 0, 0 }, SocketFlags.None, cancellationToken).ConfigureAwait(false);

    private static async Task ReceiveExactlyAsync(Socket socket, byte[] buffer, CancellationToken cancellationToken)
    {
        var filled = 0;
        while (filled < buffer.Length)
        {
            var n = await socket.ReceiveAsync(buffer.AsMemory(filled), SocketFlags.None, cancellationToken).ConfigureAwait(false);
            if (n == 0)
            {
                throw new SocketException((int)SocketError.ConnectionReset);
            }
            filled += n;
        }
    }
}
