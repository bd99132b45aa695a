using System.Net.Sockets;
using System.Text;
using Bastion.Config;

namespace Bastion.Daemon.Tor;

/// <summary>
/// Just enough SOCKS5 (RFC 1928, no authentication, CONNECT by host name) for the onion self-test: tor resolves the
/// .onion itself. Tor's extended reply codes (0xF0–0xF7) say why an onion could not be reached.
/// </summary>
internal static class Socks5
{
    // isolation: when set, sent as SOCKS5 username/password (RFC 1929): tor's IsolateSOCKSAuth (on by default) then never
    // shares a circuit with another username, so a unique one per attempt means a fresh circuit, and a fresh look-up.
    public static async Task<Socket> ConnectAsync(Endpoint proxy, string host, int port, CancellationToken cancellationToken, string? isolation = null)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        try
        {
            await socket.ConnectAsync(proxy.Host, proxy.Port, cancellationToken).ConfigureAwait(false);
            var method = isolation is null ? (byte)0 : (byte)2;
            await socket.SendAsync(new byte[] { 5, 1, method }, SocketFlags.None, cancellationToken).ConfigureAwait(false);
            var greeting = await ReadExactlyAsync(socket, 2, cancellationToken).ConfigureAwait(false);
            if (greeting[0] != 5 || greeting[1] != method)
            {
                throw new IOException($"{proxy} is not a SOCKS5 proxy that accepts {(isolation is null ? "no authentication" : "username/password isolation")}");
            }
            if (isolation is not null)
            {
                var user = Encoding.ASCII.GetBytes(isolation);
                var auth = new byte[3 + (2 * user.Length)];
                auth[0] = 1;
                auth[1] = (byte)user.Length;
                user.CopyTo(auth, 2);
                auth[2 + user.Length] = (byte)user.Length;
                user.CopyTo(auth, 3 + user.Length);
                await socket.SendAsync(auth, SocketFlags.None, cancellationToken).ConfigureAwait(false);
                var status = await ReadExactlyAsync(socket, 2, cancellationToken).ConfigureAwait(false);
                if (status[1] != 0)
                {
                    throw new IOException($"{proxy} refused the SOCKS username/password");
                }
            }
            var name = Encoding.ASCII.GetBytes(host);
            var request = new byte[7 + name.Length];
            request[0] = 5;
            request[1] = 1;
            request[3] = 3;
            request[4] = (byte)name.Length;
            name.CopyTo(request, 5);
            request[^2] = (byte)(port >> 8);
            request[^1] = (byte)port;
            await socket.SendAsync(request, SocketFlags.None, cancellationToken).ConfigureAwait(false);
            var reply = await ReadExactlyAsync(socket, 4, cancellationToken).ConfigureAwait(false);
            if (reply[1] != 0)
            {
                throw new SocksRefusedException(reply[1]);
            }
            var rest = reply[3] switch { 1 => 4, 4 => 16, 3 => (await ReadExactlyAsync(socket, 1, cancellationToken).ConfigureAwait(false))[0], _ => 0 };
            await ReadExactlyAsync(socket, rest + 2, cancellationToken).ConfigureAwait(false);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private static async Task<byte[]> ReadExactlyAsync(Socket socket, int count, CancellationToken cancellationToken)
    {
        var buffer = new byte[count];
        var filled = 0;
        while (filled < count)
        {
            var n = await socket.ReceiveAsync(buffer.AsMemory(filled), SocketFlags.None, cancellationToken).ConfigureAwait(false);
            if (n == 0)
            {
                throw new IOException("the SOCKS proxy closed the connection");
            }
            filled += n;
        }
        return buffer;
    }

    public static string Describe(byte code) => code switch
    {
        1 => "general SOCKS failure",
        2 => "connection not allowed by ruleset",
        3 => "network unreachable",
        4 => "host unreachable (tor could not build a circuit)",
        5 => "connection refused by the target",
        6 => "TTL expired (tor timed out)",
        0xF0 => "onion service descriptor not found (not published yet?)",
        0xF1 => "onion service descriptor is invalid",
        0xF2 => "onion service introduction failed",
        0xF3 => "onion service rendezvous failed",
        0xF4 => "onion service client authorization is missing",
        0xF5 => "onion service client authorization is wrong",
        0xF6 => "onion address is invalid",
        0xF7 => "onion service introduction timed out",
        _ => $"SOCKS error 0x{code:X2}",
    };
}

/// <summary>The proxy answered the CONNECT with an error code (tor's extended codes say why an onion failed).</summary>
internal sealed class SocksRefusedException(byte code) : IOException(Socks5.Describe(code))
{
    public byte Code { get; } = code;

    /// <summary>0xF0: tor found no descriptor for the address (not uploaded, or the directories lost it).</summary>
    public bool DescriptorNotFound => Code == 0xF0;
}
