using System.Buffers;
using System.Net;
using System.Net.Sockets;

namespace Bastion.Daemon.Tunnels;

/// <summary>
/// A TCP listener that relays every accepted connection to one upstream address and counts what passes:
/// bytes each way, active and total connections, upstream connects that worked and failed. SSH.NET's forwards
/// keep their sockets to themselves, so each tunnel puts one of these on the side where its users connect
/// (-L/-D: in front of SSH.NET's listener; -R: between SSH.NET and the local target). Costs one loopback hop.
/// </summary>
/// <summary>Where one relayed connection goes; <paramref name="Release"/> runs when it ends; <paramref name="Reply"/> is sent to the client once connected.</summary>
internal sealed record Upstream(string Host, int Port, Action? Release, byte[]? Reply);

internal sealed class CountingRelay : IAsyncDisposable
{
    private const int BufferSize = 128 * 1024;
    private readonly Socket _listener;
    private readonly Func<(string Host, int Port)> _upstream;
    private readonly Func<Socket, CancellationToken, Task<Upstream?>>? _handshake;
    private readonly Action<string> _onError;
    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _lock = new();
    private readonly HashSet<Socket> _open = [];
    private Task? _acceptLoop;
    private long _bytesOut, _bytesIn, _active, _total, _upstreamConnects, _upstreamFailures;

    /// <param name="listen">Where users connect.</param>
    /// <param name="onError">Told about connections that failed (for a debug log line).</param>
    /// <param name="upstream">Where each connection goes (asked per connection: the SSH.NET port is known only after start).</param>
    /// <exception cref="SocketException">The listen address cannot be bound (in use, not local).</exception>
    /// <param name="handshake">When set, asked per connection instead of <paramref name="upstream"/> (a SOCKS front end).</param>
    public CountingRelay(IPEndPoint listen, Func<(string Host, int Port)> upstream, Action<string> onError,
        Func<Socket, CancellationToken, Task<Upstream?>>? handshake = null)
    {
        _upstream = upstream;
        _handshake = handshake;
        _onError = onError;
        _listener = new Socket(listen.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            // Rebinding right after a restart must not fail on TIME_WAIT; a live listener still makes bind fail.
            _listener.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            _listener.Bind(listen);
            _listener.Listen(512);
        }
        catch
        {
            _listener.Dispose();
            throw;
        }
        BoundPort = ((IPEndPoint)_listener.LocalEndPoint!).Port;
    }

    public int BoundPort { get; }
    public long BytesOut => Interlocked.Read(ref _bytesOut);
    public long BytesIn => Interlocked.Read(ref _bytesIn);
    public long Active => Interlocked.Read(ref _active);
    public long Total => Interlocked.Read(ref _total);
    public long UpstreamConnects => Interlocked.Read(ref _upstreamConnects);
    public long UpstreamFailures => Interlocked.Read(ref _upstreamFailures);

    public void Start() => _acceptLoop = Task.Run(AcceptLoopAsync);

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException)
            {
                return;
            }
            catch (SocketException e)
            {
                _onError("accept: " + e.SocketErrorCode);
                await Task.Delay(50).ConfigureAwait(false); // e.g. EMFILE: do not spin
                continue;
            }
            _ = RelayAsync(client);
        }
    }

    private async Task RelayAsync(Socket client)
    {
        Interlocked.Increment(ref _total);
        Interlocked.Increment(ref _active);
        var upstream = new Socket(SocketType.Stream, ProtocolType.Tcp);
        Track(client, true);
        Track(upstream, true);
        try
        {
            client.NoDelay = true;
            upstream.NoDelay = true;
            Upstream? chosen;
            if (_handshake is null)
            {
                var (h, p) = _upstream();
                chosen = new Upstream(h, p, null, null);
            }
            else
            {
                using var handshakeTimeout = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
                handshakeTimeout.CancelAfter(TimeSpan.FromSeconds(30));
                chosen = await _handshake(client, handshakeTimeout.Token).ConfigureAwait(false);
                if (chosen is null)
                {
                    return;
                }
            }
            var (host, port, release, reply) = chosen;
            try
            {
                try
                {
                    using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
                    timeout.CancelAfter(TimeSpan.FromSeconds(30));
                    await upstream.ConnectAsync(host, port, timeout.Token).ConfigureAwait(false);
                    Interlocked.Increment(ref _upstreamConnects);
                }
                catch (Exception e) when (e is SocketException or OperationCanceledException)
                {
                    Interlocked.Increment(ref _upstreamFailures);
                    _onError($"cannot connect to {host}:{port}: {(e is SocketException s ? s.SocketErrorCode.ToString() : "timed out")}");
                    return;
                }
                if (reply is not null)
                {
                    await client.SendAsync(reply, SocketFlags.None, _stop.Token).ConfigureAwait(false);
                }
                await Task.WhenAll(Pump(client, upstream, true), Pump(upstream, client, false)).ConfigureAwait(false);
            }
            finally
            {
                release?.Invoke();
            }
        }
#pragma warning disable CA1031 // one connection's failure never reaches the tunnel
        catch (Exception e)
#pragma warning restore CA1031
        {
            _onError(e.GetType().Name + ": " + e.Message);
        }
        finally
        {
            Track(client, false);
            Track(upstream, false);
            client.Dispose();
            upstream.Dispose();
            Interlocked.Decrement(ref _active);
        }
    }

    /// <summary>
    /// One direction on its own thread with blocking calls. Measured: async pumps halved a bulk transfer's throughput
    /// (each hop waits for an epoll wake-up and a pool dispatch while SSH.NET's channel waits for its window);
    /// SSH.NET itself already holds a blocking thread per connection, so this doubles a cost that is already there.
    /// </summary>
    private Task Pump(Socket from, Socket to, bool outbound) =>
        Task.Factory.StartNew(() => PumpBlocking(from, to, outbound), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    /// <summary>Copies until EOF, then half-closes the other side so the far end sees the EOF too.</summary>
    private void PumpBlocking(Socket from, Socket to, bool outbound)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
        try
        {
            while (true)
            {
                int n;
                try
                {
                    n = from.Receive(buffer, SocketFlags.None);
                }
                catch (Exception e) when (e is SocketException or ObjectDisposedException)
                {
                    n = 0;
                }
                if (n == 0)
                {
                    TryShutdown(to);
                    return;
                }
                try
                {
                    var sent = 0;
                    while (sent < n)
                    {
                        sent += to.Send(buffer, sent, n - sent, SocketFlags.None);
                    }
                }
                catch (Exception e) when (e is SocketException or ObjectDisposedException)
                {
                    TryShutdown(from, SocketShutdown.Both);
                    return;
                }
                Interlocked.Add(ref outbound ? ref _bytesOut : ref _bytesIn, n);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static void TryShutdown(Socket socket, SocketShutdown how = SocketShutdown.Send)
    {
        try
        {
            socket.Shutdown(how);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
        }
    }

    private void Track(Socket socket, bool add)
    {
        lock (_lock)
        {
            if (add)
            {
                _open.Add(socket);
            }
            else
            {
                _open.Remove(socket);
            }
        }
    }

    /// <summary>Stops listening and closes every relayed connection (a restarted tunnel starts clean).</summary>
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        _listener.Dispose();
        Socket[] open;
        lock (_lock)
        {
            open = [.. _open];
        }
        foreach (var s in open)
        {
            s.Dispose();
        }
        if (_acceptLoop is { } loop)
        {
            await loop.WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
        // _stop is not disposed: relays still winding down may read its token; it holds no timer.
    }
}
