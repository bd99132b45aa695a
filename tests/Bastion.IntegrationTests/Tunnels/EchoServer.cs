using System.Net;
using System.Net.Sockets;

namespace Bastion.IntegrationTests.Tunnels;

/// <summary>A TCP echo service on 127.0.0.1 (the target a tunnel forwards to); sends a greeting first, then echoes.</summary>
internal sealed class EchoServer : IAsyncDisposable
{
    public const string Greeting = "ECHO-READY\n";
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;

    public EchoServer()
    {
        _listener.Start();
        _loop = Task.Run(AcceptAsync);
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }
            _ = Task.Run(async () =>
            {
                using (client)
                {
                    try
                    {
                        var stream = client.GetStream();
                        await stream.WriteAsync("ECHO-READY\n"u8.ToArray(), _stop.Token);
                        var buffer = new byte[65536];
                        int n;
                        while ((n = await stream.ReadAsync(buffer, _stop.Token)) > 0)
                        {
                            await stream.WriteAsync(buffer.AsMemory(0, n), _stop.Token);
                        }
                    }
                    catch (Exception e) when (e is IOException or OperationCanceledException or SocketException or ObjectDisposedException)
                    {
                    }
                }
            });
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        await _loop.WaitAsync(TimeSpan.FromSeconds(5));
        _stop.Dispose();
    }
}

/// <summary>A client connection through a tunnel: reads the echo greeting, then round-trips payloads.</summary>
internal sealed class EchoClient : IAsyncDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(15);
    private readonly TcpClient _client;
    private readonly NetworkStream _stream;

    private EchoClient(TcpClient client)
    {
        _client = client;
        _stream = client.GetStream();
    }

    public NetworkStream Stream => _stream;

    /// <summary>Connects to a local port (a -L bind, or anything that leads to an <see cref="EchoServer"/>) and reads the greeting.</summary>
    public static async Task<EchoClient> ConnectAsync(int port)
    {
        var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, port).WaitAsync(Patience);
        var echo = new EchoClient(client);
        await echo.ExpectGreetingAsync();
        return echo;
    }

    /// <summary>Wraps an already connected client (e.g. after a SOCKS handshake).</summary>
    public static async Task<EchoClient> OverAsync(TcpClient connected)
    {
        var echo = new EchoClient(connected);
        await echo.ExpectGreetingAsync();
        return echo;
    }

    private async Task ExpectGreetingAsync()
    {
        var greeting = await ReadExactlyAsync(EchoServer.Greeting.Length);
        Assert.Equal(EchoServer.Greeting, System.Text.Encoding.ASCII.GetString(greeting));
    }

    /// <summary>Sends <paramref name="size"/> random bytes and checks the same bytes come back.</summary>
    public async Task RoundTripAsync(int size = 64 * 1024)
    {
        var payload = new byte[size];
        Random.Shared.NextBytes(payload);
        var send = _stream.WriteAsync(payload).AsTask();
        var back = await ReadExactlyAsync(size);
        await send.WaitAsync(Patience);
        Assert.True(payload.AsSpan().SequenceEqual(back), "the echo came back different");
    }

    private async Task<byte[]> ReadExactlyAsync(int size)
    {
        var buffer = new byte[size];
        await _stream.ReadExactlyAsync(buffer).AsTask().WaitAsync(Patience);
        return buffer;
    }

    public ValueTask DisposeAsync()
    {
        _client.Dispose();
        return ValueTask.CompletedTask;
    }
}

/// <summary>A minimal SOCKS5 client (no auth, CONNECT by domain name), like curl --socks5-hostname.</summary>
internal static class Socks5
{
    public static async Task<TcpClient> ConnectAsync(int proxyPort, string host, int port)
    {
        var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, proxyPort).WaitAsync(TimeSpan.FromSeconds(15));
        var s = client.GetStream();
        await s.WriteAsync(new byte[] { 5, 1, 0 });
        var choice = new byte[2];
        await s.ReadExactlyAsync(choice).AsTask().WaitAsync(TimeSpan.FromSeconds(15));
        Assert.Equal(new byte[] { 5, 0 }, choice);
        var name = System.Text.Encoding.ASCII.GetBytes(host);
        var request = new List<byte> { 5, 1, 0, 3, (byte)name.Length };
        request.AddRange(name);
        request.Add((byte)(port >> 8));
        request.Add((byte)port);
        await s.WriteAsync(request.ToArray());
        var reply = new byte[4];
        await s.ReadExactlyAsync(reply).AsTask().WaitAsync(TimeSpan.FromSeconds(15));
        Assert.True(reply[1] == 0, $"SOCKS5 CONNECT to {host}:{port} failed with code {reply[1]}");
        var rest = reply[3] switch { 1 => 4 + 2, 4 => 16 + 2, _ => throw new InvalidDataException("unexpected SOCKS5 address type") };
        await s.ReadExactlyAsync(new byte[rest]).AsTask().WaitAsync(TimeSpan.FromSeconds(15));
        return client;
    }
}
