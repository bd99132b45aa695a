using System.Buffers.Binary;
using System.Net.Security;
using Bastion.IntegrationTests.Infrastructure;
using Bastion.Pki;
using Bastion.Vnc;

namespace Bastion.IntegrationTests.Vnc;

/// <summary>
/// A minimal VNC viewer over mutual TLS, as an admin's tooling would be: a plain .NET SslStream with a client certificate
/// that checks the server against the session CA, then the RFB handshake to ServerInit (Core's RfbProbe.HandshakeAsync)
/// and framebuffer reads (SetEncodings raw, FramebufferUpdateRequest, FramebufferUpdate with raw rectangles).
/// </summary>
internal sealed class RfbTlsClient : IAsyncDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(15);
    private readonly TlsClientConnection _connection;

    private RfbTlsClient(TlsClientConnection connection) => _connection = connection;

    public RfbServerInit? ServerInit { get; private set; }

    private SslStream Ssl => _connection.Stream;

    /// <summary>Connects and completes the TLS handshake (throws if the server or its certificate is not acceptable).</summary>
    public static async Task<RfbTlsClient> ConnectAsync(int port, string caPath, IssueResult? identity) =>
        new(await TlsClientConnection.ConnectAsync(port, caPath, identity, Patience));

    /// <summary>RFB 3.8 with VNC authentication to ServerInit (throws <see cref="RfbException"/> when refused).</summary>
    public async Task<RfbServerInit> HandshakeAsync(string password)
    {
        using var timeout = new CancellationTokenSource(Patience);
        ServerInit = await RfbProbe.HandshakeAsync(Ssl, password, timeout.Token);
        return ServerInit;
    }

    /// <summary>
    /// Asks for the whole screen (non-incremental, raw encoding) until a frame is not one flat colour, or gives up after
    /// <paramref name="timeout"/> and returns the last frame. Returns the pixels as sent (server pixel format).
    /// </summary>
    public async Task<(byte[] Pixels, bool Uniform)> ReadFramebufferAsync(TimeSpan timeout)
    {
        var init = ServerInit ?? throw new InvalidOperationException("handshake first");
        var bytesPerPixel = init.PixelFormat[0] / 8;
        await WriteAsync([2, 0, 0, 1, 0, 0, 0, 0]); // SetEncodings: one encoding, 0 = raw
        var deadline = DateTime.UtcNow + timeout;
        var frame = new byte[init.Width * init.Height * bytesPerPixel];
        while (true)
        {
            var request = new byte[10];
            request[0] = 3; // FramebufferUpdateRequest, incremental 0, whole screen
            BinaryPrimitives.WriteUInt16BigEndian(request.AsSpan(6), (ushort)init.Width);
            BinaryPrimitives.WriteUInt16BigEndian(request.AsSpan(8), (ushort)init.Height);
            await WriteAsync(request);
            await ReadUpdateAsync(frame, init.Width, bytesPerPixel);
            var uniform = IsUniform(frame, bytesPerPixel);
            if (!uniform || DateTime.UtcNow > deadline)
            {
                return (frame, uniform);
            }
            await Task.Delay(250);
        }
    }

    private async Task ReadUpdateAsync(byte[] frame, int width, int bytesPerPixel)
    {
        while (true)
        {
            var type = (await ReadAsync(1))[0];
            switch (type)
            {
                case 0: // FramebufferUpdate
                    var header = await ReadAsync(3);
                    var rects = BinaryPrimitives.ReadUInt16BigEndian(header.AsSpan(1));
                    for (var i = 0; i < rects; i++)
                    {
                        var r = await ReadAsync(12);
                        int x = BinaryPrimitives.ReadUInt16BigEndian(r), y = BinaryPrimitives.ReadUInt16BigEndian(r.AsSpan(2));
                        int w = BinaryPrimitives.ReadUInt16BigEndian(r.AsSpan(4)), h = BinaryPrimitives.ReadUInt16BigEndian(r.AsSpan(6));
                        var encoding = BinaryPrimitives.ReadInt32BigEndian(r.AsSpan(8));
                        if (encoding != 0)
                        {
                            throw new InvalidDataException($"server sent encoding {encoding}; only raw (0) was asked for");
                        }
                        var data = await ReadAsync(w * h * bytesPerPixel);
                        for (var row = 0; row < h; row++)
                        {
                            Buffer.BlockCopy(data, row * w * bytesPerPixel, frame, ((y + row) * width + x) * bytesPerPixel, w * bytesPerPixel);
                        }
                    }
                    return;
                case 2: // Bell
                    continue;
                case 3: // ServerCutText
                    var cut = await ReadAsync(7);
                    await ReadAsync((int)BinaryPrimitives.ReadUInt32BigEndian(cut.AsSpan(3)));
                    continue;
                default:
                    throw new InvalidDataException($"unexpected server message type {type}");
            }
        }
    }

    private static bool IsUniform(byte[] frame, int bytesPerPixel)
    {
        for (var i = bytesPerPixel; i < frame.Length; i += bytesPerPixel)
        {
            if (!frame.AsSpan(i, bytesPerPixel).SequenceEqual(frame.AsSpan(0, bytesPerPixel)))
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>Reads until the server closes the connection (true) or the time is up (false).</summary>
    public async Task<bool> WaitForCloseAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        var buffer = new byte[4096];
        try
        {
            while (await Ssl.ReadAsync(buffer, cts.Token) > 0)
            {
            }
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
        catch (IOException)
        {
            return true;
        }
    }

    /// <summary>Raw bytes to the server (a test that speaks RFB its own way).</summary>
    public Task SendAsync(byte[] data) => WriteAsync(data);

    /// <summary>Exactly <paramref name="count"/> raw bytes from the server.</summary>
    public Task<byte[]> ReceiveAsync(int count) => ReadAsync(count);

    private async Task WriteAsync(byte[] data)
    {
        using var cts = new CancellationTokenSource(Patience);
        await Ssl.WriteAsync(data, cts.Token);
        await Ssl.FlushAsync(cts.Token);
    }

    private async Task<byte[]> ReadAsync(int count)
    {
        var buffer = new byte[count];
        using var cts = new CancellationTokenSource(Patience);
        await Ssl.ReadExactlyAsync(buffer, cts.Token);
        return buffer;
    }

    public ValueTask DisposeAsync() => _connection.DisposeAsync();
}
