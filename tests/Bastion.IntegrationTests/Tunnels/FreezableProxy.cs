using System.Net;
using System.Net.Sockets;

namespace Bastion.IntegrationTests.Tunnels;

/// <summary>
/// A TCP relay on 127.0.0.1 in front of a server that the test can turn into a black hole: while frozen nothing passes
/// in either direction and new connections are accepted but not carried on (as if the network path dropped every
/// packet, without any reset); thawed, everything held back flows again. Connections close when the proxy is disposed.
/// </summary>
internal sealed class FreezableProxy : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly int _target;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<TcpClient> _open = [];
    private readonly Task _loop;
    private TaskCompletionSource _gate = Open();

    public FreezableProxy(int targetPort)
    {
        _target = targetPort;
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _loop = Task.Run(AcceptLoopAsync);
    }

    public int Port { get; }

    private static TaskCompletionSource Open()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        gate.SetResult();
        return gate;
    }

    private Task Gate => Volatile.Read(ref _gate).Task;

    public void Freeze() => Volatile.Write(ref _gate, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));

    public void Thaw() => Volatile.Read(ref _gate).TrySetResult();

    private async Task AcceptLoopAsync()
    {
        try
        {
            while (true)
            {
                var client = await _listener.AcceptTcpClientAsync(_stop.Token);
                _ = Task.Run(() => CarryAsync(client));
            }
        }
        catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
        {
        }
    }

    private async Task CarryAsync(TcpClient client)
    {
        using var upstream = new TcpClient();
        lock (_open)
        {
            _open.Add(client);
            _open.Add(upstream);
        }
        try
        {
            await Gate.WaitAsync(_stop.Token);
            await upstream.ConnectAsync(IPAddress.Loopback, _target, _stop.Token);
            await Task.WhenAny(PumpAsync(client.GetStream(), upstream.GetStream()), PumpAsync(upstream.GetStream(), client.GetStream()));
        }
        catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException or IOException)
        {
        }
        finally
        {
            client.Dispose();
        }
    }

    private async Task PumpAsync(NetworkStream from, NetworkStream to)
    {
        var buffer = new byte[64 * 1024];
        try
        {
            while (true)
            {
                var n = await from.ReadAsync(buffer, _stop.Token);
                await Gate.WaitAsync(_stop.Token); // frozen: what was read is held back
                if (n == 0)
                {
                    return;
                }
                await to.WriteAsync(buffer.AsMemory(0, n), _stop.Token);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or IOException)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        lock (_open)
        {
            foreach (var c in _open)
            {
                c.Dispose();
            }
        }
        await _loop.WaitAsync(TimeSpan.FromSeconds(5));
        _stop.Dispose();
    }
}
