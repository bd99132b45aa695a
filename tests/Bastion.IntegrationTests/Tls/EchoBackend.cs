using System.Net;
using System.Net.Sockets;

namespace Bastion.IntegrationTests.Tls;

/// <summary>
/// The relay's backend: echoes every byte back, on loopback TCP (port 0) or on a Unix socket (what the VNC desktop offers).
/// Counts connections so tests can tell that a refused peer never reached it.
/// </summary>
internal sealed class EchoBackend : IAsyncDisposable
{
    private readonly Socket _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;
    private int _connections;

    private EchoBackend(Socket listener, string address)
    {
        _listener = listener;
        Address = address;
        _accepting = AcceptAsync();
    }

    /// <summary>As config writes it: 127.0.0.1:PORT or unix:/path.</summary>
    public string Address { get; }

    public int Connections => Volatile.Read(ref _connections);

    public static EchoBackend Tcp()
    {
        var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(64);
        return new EchoBackend(listener, $"127.0.0.1:{((IPEndPoint)listener.LocalEndPoint!).Port}");
    }

    public static EchoBackend Unix(string path)
    {
        var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(path));
        listener.Listen(64);
        return new EchoBackend(listener, "unix:" + path);
    }

    private async Task AcceptAsync()
    {
        try
        {
            while (true)
            {
                var socket = await _listener.AcceptAsync(_stop.Token);
                Interlocked.Increment(ref _connections);
                _ = Task.Run(() => EchoAsync(socket));
            }
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }
    }

    private async Task EchoAsync(Socket socket)
    {
        using (socket)
        {
            var buffer = new byte[65536];
            try
            {
                int n;
                while ((n = await socket.ReceiveAsync(buffer, SocketFlags.None, _stop.Token)) > 0)
                {
                    await socket.SendAsync(buffer.AsMemory(0, n), SocketFlags.None, _stop.Token);
                }
                socket.Shutdown(SocketShutdown.Send);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Dispose();
        await _accepting.WaitAsync(TimeSpan.FromSeconds(5));
        _stop.Dispose();
    }
}
