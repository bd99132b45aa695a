using System.Buffers.Binary;
using System.Net.Sockets;
using System.Text;

namespace Bastion.Tests.Vnc;

/// <summary>
/// One in-process server on a Unix socket in a temp dir that runs a script against the first connection: the byte-level
/// peer for the RFB client tests (no Xvnc needed for protocol edge cases a real server would not produce on demand).
/// </summary>
internal sealed class ScriptedRfbServer : IAsyncDisposable
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(10);
    private readonly string _dir = Directory.CreateTempSubdirectory("bastion-rfb-").FullName;
    private readonly Socket _listener = new(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
    private readonly Task _run;

    public ScriptedRfbServer(Func<Peer, Task> script)
    {
        SocketPath = Path.Combine(_dir, "rfb.sock");
        _listener.Bind(new UnixDomainSocketEndPoint(SocketPath));
        _listener.Listen(1);
        _run = Task.Run(async () =>
        {
            using var socket = await _listener.AcceptAsync();
            await using var stream = new NetworkStream(socket, ownsSocket: false);
            await script(new Peer(stream));
        });
    }

    public string SocketPath { get; }

    /// <summary>A stream connected to the server, for the stream-level API.</summary>
    public async Task<NetworkStream> ConnectAsync()
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await socket.ConnectAsync(new UnixDomainSocketEndPoint(SocketPath)).WaitAsync(Limit);
        return new NetworkStream(socket, ownsSocket: true);
    }

    /// <summary>Waits for the script to end and rethrows what went wrong in it.</summary>
    public Task CompletionAsync() => _run.WaitAsync(Limit);

    public async ValueTask DisposeAsync()
    {
        _listener.Dispose();
        try
        {
            await _run.WaitAsync(Limit);
        }
        catch (Exception e) when (e is SocketException or IOException or ObjectDisposedException or OperationCanceledException)
        {
        }
        Directory.Delete(_dir, recursive: true);
    }

    internal sealed class Peer(NetworkStream stream)
    {
        public Task SendAsync(params byte[][] parts) => stream.WriteAsync(parts.SelectMany(p => p).ToArray()).AsTask().WaitAsync(Limit);

        public async Task<byte[]> ReceiveAsync(int count)
        {
            var buffer = new byte[count];
            await stream.ReadExactlyAsync(buffer).AsTask().WaitAsync(Limit);
            return buffer;
        }

        /// <summary>Waits until the client closes (or the limit).</summary>
        public async Task DrainAsync()
        {
            var buffer = new byte[256];
            while (await stream.ReadAsync(buffer).AsTask().WaitAsync(Limit) > 0)
            {
            }
        }

        public void Close() => stream.Socket.Shutdown(SocketShutdown.Both);
    }
}

/// <summary>RFB message pieces for scripted peers and observers.</summary>
internal static class Rfb
{
    public static byte[] Version(string v) => Encoding.ASCII.GetBytes($"RFB {v}\n");

    public static byte[] U32(uint value)
    {
        var b = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(b, value);
        return b;
    }

    public static byte[] U16(ushort value)
    {
        var b = new byte[2];
        BinaryPrimitives.WriteUInt16BigEndian(b, value);
        return b;
    }

    public static byte[] String(string text) => [.. U32((uint)Encoding.UTF8.GetByteCount(text)), .. Encoding.UTF8.GetBytes(text)];

    public static readonly byte[] Challenge = Convert.FromHexString("000102030405060708090a0b0c0d0e0f");

    /// <summary>TigerVNC's 32-bit true-colour pixel format, as Xvnc sends it.</summary>
    public static readonly byte[] PixelFormat = Convert.FromHexString("2018000100ff00ff00ff100800000000");

    public static byte[] ServerInit(ushort width, ushort height, string name) =>
        [.. U16(width), .. U16(height), .. PixelFormat, .. String(name)];
}
