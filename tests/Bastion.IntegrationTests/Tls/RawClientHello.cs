using System.Net.Sockets;
using System.Security.Cryptography;

namespace Bastion.IntegrationTests.Tls;

/// <summary>
/// A hand-built TLS 1.2 ClientHello offering exactly the given cipher suites — for suites no modern TLS library will still
/// offer (RC4). Tells whether the server answered with a ServerHello (it accepted a suite) or refused.
/// </summary>
internal static class RawClientHello
{
    public const ushort EcdheEcdsaRc4Sha = 0xC007;
    public const ushort EcdheRsaRc4Sha = 0xC011;
    public const ushort RsaRc4Sha = 0x0005;
    public const ushort RsaRc4Md5 = 0x0004;
    public const ushort EcdheEcdsaAes128GcmSha256 = 0xC02B;

    /// <summary>True when the server answered with a ServerHello.</summary>
    public static async Task<bool> ServerAcceptsAsync(int port, params ushort[] suites)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync("127.0.0.1", port, cts.Token);
        await socket.SendAsync(Build(suites), SocketFlags.None, cts.Token);
        var header = new byte[6];
        var got = 0;
        try
        {
            while (got < header.Length)
            {
                var n = await socket.ReceiveAsync(header.AsMemory(got), SocketFlags.None, cts.Token);
                if (n == 0)
                {
                    break;
                }
                got += n;
            }
        }
        catch (SocketException)
        {
            return false; // reset
        }
        // 0x16 = handshake record, and its first message type 2 = ServerHello; 0x15 = alert.
        return got == header.Length && header[0] == 0x16 && header[5] == 0x02;
    }

    private static byte[] Build(ushort[] suites)
    {
        var body = new List<byte> { 0x03, 0x03 };
        body.AddRange(RandomNumberGenerator.GetBytes(32));
        body.Add(0); // no session id
        Add16(body, suites.Length * 2);
        foreach (var s in suites)
        {
            Add16(body, s);
        }
        body.AddRange([0x01, 0x00]); // compression: null
        var ext = new List<byte>();
        Extension(ext, 0x000a, [0x00, 0x06, 0x00, 0x17, 0x00, 0x18, 0x00, 0x1d]); // supported_groups: P-256, P-384, X25519
        Extension(ext, 0x000b, [0x01, 0x00]); // ec_point_formats: uncompressed
        Extension(ext, 0x000d, [0x00, 0x08, 0x04, 0x03, 0x05, 0x03, 0x08, 0x04, 0x04, 0x01]); // signature_algorithms
        Add16(body, ext.Count);
        body.AddRange(ext);

        var handshake = new List<byte> { 0x01, 0, (byte)(body.Count >> 8), (byte)body.Count };
        handshake.AddRange(body);
        var record = new List<byte> { 0x16, 0x03, 0x01 };
        Add16(record, handshake.Count);
        record.AddRange(handshake);
        return [.. record];
    }

    private static void Extension(List<byte> list, int type, byte[] data)
    {
        Add16(list, type);
        Add16(list, data.Length);
        list.AddRange(data);
    }

    private static void Add16(List<byte> list, int value)
    {
        list.Add((byte)(value >> 8));
        list.Add((byte)value);
    }
}
