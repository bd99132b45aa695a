using System.Buffers;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace Bastion.Daemon.Tunnels;

/// <summary>
/// Where one relayed connection goes; <paramref name="Release"/> runs when it ends; <paramref name="Reply"/> is sent to
/// the client once connected, <paramref name="FailureReply"/> when the upstream could not be reached.
/// </summary>
internal sealed record Upstream(string Host, int Port, Action? Release, byte[]? Reply, byte[]? FailureReply = null);

/// <summary>How many connections one relay holds at most, in total and per source (a loopback peer's uid, else its address).</summary>
internal sealed record RelayLimits(int Connections, int PerSource)
{
    public static RelayLimits Unlimited { get; } = new(int.MaxValue, int.MaxValue);
}

/// <summary>Why a connection was turned away before anything was relayed.</summary>
internal enum RelayRefusal { TunnelLimit, SourceLimit, NotOurs, OutOfResources }

/// <summary>What a relay does besides copying bytes.</summary>
/// <param name="Limits">Past these, a new connection is closed at once and counted.</param>
/// <param name="PeerEofClosesBoth">
/// The accepted side is SSH.NET's forwarded-tcpip channel (-R), which never half-closes: EOF from it means the
/// channel is gone, so the target connection is closed at once instead of waiting for the target to hang up.
/// </param>
/// <param name="OwnProcessOnly">Only connections from this daemon's own uid are relayed (the -R inner port).</param>
/// <param name="Guard">Upstream connections' local ports are registered here (the -L/-D inner SSH.NET port checks them).</param>
/// <param name="ProbeToken">
/// A connection whose first bytes are exactly this is the tunnel's own end-to-end probe: once the upstream accepted
/// it, both sides are closed at once and nothing is forwarded (the probe never holds a connection at the target).
/// </param>
/// <param name="Channels">
/// Upstreams are reached as <c>direct-tcpip</c> channels on this SSH session (-L, -D) instead of TCP connections: the
/// server connects to the upstream's host and port, and the relay moves bytes between the accepted socket and the channel.
/// </param>
internal sealed record RelayOptions(RelayLimits Limits, bool PeerEofClosesBoth = false, bool OwnProcessOnly = false,
    InnerPortGuard? Guard = null, byte[]? ProbeToken = null, DirectTcpipChannels? Channels = null);

/// <summary>
/// A TCP listener that relays every accepted connection to an upstream and counts what passes: bytes each way,
/// active and total connections, upstream connects that worked and failed, and connections refused past the limits.
/// -L/-D: users connect here and each connection gets its own direct-tcpip channel (<see cref="RelayOptions.Channels"/>,
/// no second socket); -R: it sits between SSH.NET's forwarded-tcpip channel (on a loopback port only this process may
/// use) and the local target.
/// Fully asynchronous: an idle connection holds no thread and no buffer (it waits with a zero-byte receive), so the
/// daemon's thread count does not grow with the number of connections; EOF is carried each way on its own, and the
/// connection ends when both directions ended or either side failed.
/// </summary>
internal sealed partial class CountingRelay : IAsyncDisposable
{
    private const int BufferSize = 64 * 1024;
    /// <summary>How long a route may take (a SOCKS client to send its request), and an upstream to accept.</summary>
    internal static readonly TimeSpan HandshakeTimeout = TimeSpan.FromSeconds(30);
    internal static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(30);

    private readonly Socket _listener;
    private readonly Func<Socket, CancellationToken, Task<Upstream?>> _route;
    private readonly RelayOptions _options;
    private readonly Action<string> _onError;
    private readonly TimeProvider _time;
    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _lock = new();
    private readonly HashSet<Socket> _open = [];
    private readonly Dictionary<string, int> _perSource = new(StringComparer.Ordinal);
    private readonly int _ownUid = PeerIdentity.OwnUid();
    private RelayLimits _limits;
    private Task? _acceptLoop;
    private long _bytesOut, _bytesIn, _active, _total, _upstreamConnects, _upstreamFailures;
    private long _refusedTunnelLimit, _refusedSourceLimit, _refusedNotOurs, _refusedResources, _probes;

    /// <param name="listen">Where users connect.</param>
    /// <param name="options">Limits, and how the accepted side behaves.</param>
    /// <param name="route">Asked per connection where it goes (may speak a handshake first, e.g. SOCKS); null: drop it.</param>
    /// <param name="onError">Told about connections that failed (for a debug log line).</param>
    /// <param name="time">The host's clock: handshake and connect timeouts, pauses.</param>
    /// <exception cref="SocketException">The listen address cannot be bound (in use, not local).</exception>
    public CountingRelay(IPEndPoint listen, RelayOptions options, Func<Socket, CancellationToken, Task<Upstream?>> route, Action<string> onError,
        TimeProvider time)
    {
        _time = time;
        _route = route;
        _options = options;
        _limits = options.Limits;
        _onError = onError;
        _listener = new Socket(listen.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            // SO_REUSEADDR alone (rebinding right after a restart must not fail on TIME_WAIT), never SO_REUSEPORT:
            // .NET's ReuseAddress sets both on Linux, and SO_REUSEPORT would let a second listener share the port and
            // have the kernel split connections between the two. With SO_REUSEADDR alone, a live listener makes bind fail.
            _listener.SetRawSocketOption(PeerIdentity.SolSocket, PeerIdentity.SoReuseAddr, BitConverter.GetBytes(1));
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

    /// <summary>A relay to one fixed upstream.</summary>
    public static Func<Socket, CancellationToken, Task<Upstream?>> To(Func<(string Host, int Port)> upstream) =>
        (_, _) =>
        {
            var (host, port) = upstream();
            return Task.FromResult<Upstream?>(new Upstream(host, port, null, null));
        };

    public int BoundPort { get; }
    public long BytesOut => Interlocked.Read(ref _bytesOut);
    public long BytesIn => Interlocked.Read(ref _bytesIn);
    public long Active => Interlocked.Read(ref _active);
    public long Total => Interlocked.Read(ref _total);
    public long UpstreamConnects => Interlocked.Read(ref _upstreamConnects);
    public long UpstreamFailures => Interlocked.Read(ref _upstreamFailures);

    /// <summary>Connections that were the tunnel's own probe (see <see cref="RelayOptions.ProbeToken"/>).</summary>
    public long Probes => Interlocked.Read(ref _probes);

    /// <summary>Connections closed unrelayed, by why.</summary>
    public long Refused(RelayRefusal why) => why switch
    {
        RelayRefusal.TunnelLimit => Interlocked.Read(ref _refusedTunnelLimit),
        RelayRefusal.SourceLimit => Interlocked.Read(ref _refusedSourceLimit),
        RelayRefusal.NotOurs => Interlocked.Read(ref _refusedNotOurs),
        _ => Interlocked.Read(ref _refusedResources),
    };

    public void Start() => _acceptLoop = Task.Run(AcceptLoopAsync);

    private Task Pause() => Task.Delay(TimeSpan.FromMilliseconds(50), _time, _stop.Token)
        .ContinueWith(static _ => { }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);

    /// <summary>The limits in force (<see cref="RelayOptions.Limits"/> until <see cref="UpdateLimits"/>).</summary>
    public RelayLimits Limits => Volatile.Read(ref _limits);

    /// <summary>
    /// New limits for connections accepted from now on (a reload that changed only <c>limits</c>). Open connections are
    /// kept, also when there are more of them than the new limit: new ones are refused until enough have ended.
    /// </summary>
    public void UpdateLimits(RelayLimits limits)
    {
        lock (_lock) // Admit decides under this lock: a connection is judged by the old limits or the new ones, never a mix
        {
            Volatile.Write(ref _limits, limits);
        }
    }

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
                await Pause().ConfigureAwait(false); // e.g. EMFILE: do not spin
                continue;
            }
#pragma warning disable CA1031 // anything one connection costs (even an allocation that failed) refuses that connection, never the listener
            catch (Exception e)
#pragma warning restore CA1031
            {
                Interlocked.Increment(ref _refusedResources);
                _onError("accept: " + e.GetType().Name);
                await Pause().ConfigureAwait(false);
                continue;
            }
            try
            {
                Admit(client);
            }
#pragma warning disable CA1031 // as above: a failure admitting one connection refuses that one connection
            catch (Exception e)
#pragma warning restore CA1031
            {
                Interlocked.Increment(ref _refusedResources);
                _onError("cannot take a connection: " + e.GetType().Name);
                client.Dispose();
            }
        }
    }

    /// <summary>Counts the connection against the limits (or refuses it) and starts relaying it.</summary>
    private void Admit(Socket client)
    {
        string? source = null;
        if (_options.OwnProcessOnly && PeerIdentity.LoopbackPeerUid(client) != _ownUid)
        {
            Refuse(client, ref _refusedNotOurs);
            return;
        }
        if (Limits.PerSource < int.MaxValue)
        {
            source = PeerIdentity.SourceKey(client);
        }
        bool sourceFull;
        lock (_lock)
        {
            var limits = _limits;
            sourceFull = source is not null && _perSource.GetValueOrDefault(source) >= limits.PerSource;
            if (_open.Count < limits.Connections && !sourceFull)
            {
                if (source is not null)
                {
                    _perSource[source] = _perSource.GetValueOrDefault(source) + 1;
                }
                _open.Add(client);
                Interlocked.Increment(ref _total);
                Interlocked.Increment(ref _active);
                _ = RelayAsync(client, source);
                return;
            }
        }
        if (sourceFull)
        {
            Refuse(client, ref _refusedSourceLimit);
        }
        else
        {
            Refuse(client, ref _refusedTunnelLimit);
        }
    }

    private static void Refuse(Socket client, ref long counter)
    {
        Interlocked.Increment(ref counter);
        // RST rather than FIN: nothing lingers in TIME_WAIT on our side for a connection we never served.
        try
        {
            client.LingerState = new LingerOption(true, 0);
        }
        catch (SocketException)
        {
        }
        client.Dispose();
    }

    private async Task RelayAsync(Socket client, string? source)
    {
        await Task.Yield(); // the accept loop goes on at once
        Action? release = null;
        var guardedPort = 0;
        Socket? upstream = null;
        try
        {
            client.NoDelay = true;
            Upstream? chosen;
            using (var timer = new CancellationTokenSource(HandshakeTimeout, _time))
            using (var handshake = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token, timer.Token))
            {
                chosen = await _route(client, handshake.Token).ConfigureAwait(false);
            }
            if (chosen is null)
            {
                return;
            }
            release = chosen.Release;
            if (_options.Channels is { } channels)
            {
                await RelayThroughChannelAsync(client, chosen, channels).ConfigureAwait(false);
                return;
            }
            upstream = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                using var timer = new CancellationTokenSource(ConnectTimeout, _time);
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token, timer.Token);
                if (_options.Guard is { } guard)
                {
                    // Bound before connecting: the inner port learns our port before it sees the connection.
                    upstream.Bind(new IPEndPoint(IPAddress.Loopback, 0));
                    guardedPort = ((IPEndPoint)upstream.LocalEndPoint!).Port;
                    guard.Allow(guardedPort);
                }
                await upstream.ConnectAsync(chosen.Host, chosen.Port, timeout.Token).ConfigureAwait(false);
                Interlocked.Increment(ref _upstreamConnects);
            }
            catch (Exception e) when (e is SocketException or OperationCanceledException)
            {
                Interlocked.Increment(ref _upstreamFailures);
                _onError($"cannot connect to {chosen.Host}:{chosen.Port}: {(e is SocketException s ? s.SocketErrorCode.ToString() : "timed out")}");
                return;
            }
            if (chosen.Reply is { } reply)
            {
                await client.SendAsync(reply, SocketFlags.None, _stop.Token).ConfigureAwait(false);
            }
            using var both = new Connection(client, upstream);
            await Task.WhenAll(
                PumpAsync(both, client, upstream, outbound: true),
                PumpAsync(both, upstream, client, outbound: false)).ConfigureAwait(false);
        }
#pragma warning disable CA1031 // one connection's failure never reaches the tunnel
        catch (Exception e)
#pragma warning restore CA1031
        {
            _onError(e.GetType().Name + ": " + e.Message);
        }
        finally
        {
            if (guardedPort != 0)
            {
                _options.Guard!.Forget(guardedPort);
            }
            client.Dispose();
            upstream?.Dispose();
            lock (_lock)
            {
                _open.Remove(client);
                if (!string.IsNullOrEmpty(source) && _perSource.TryGetValue(source, out var n))
                {
                    if (n <= 1)
                    {
                        _perSource.Remove(source);
                    }
                    else
                    {
                        _perSource[source] = n - 1;
                    }
                }
            }
            Interlocked.Decrement(ref _active);
            if (release is not null)
            {
                // SSH.NET's Stop waits for its channel to close: never on the relay's path.
                _ = Task.Run(release);
            }
        }
    }

    /// <summary>The two sockets of one relayed connection: closing it closes both (a pending receive on either ends).</summary>
    private sealed class Connection(Socket client, Socket upstream) : IDisposable
    {
        private int _closed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _closed, 1) == 0)
            {
                client.Dispose();
                upstream.Dispose();
            }
        }
    }

    /// <summary>
    /// One direction. While idle it waits with a zero-byte receive, holding no buffer; a buffer is rented only while
    /// bytes move. At EOF it half-closes the other side so the far end sees the EOF while the other direction goes on;
    /// a failure on either socket ends both directions.
    /// </summary>
    private async Task PumpAsync(Connection both, Socket from, Socket to, bool outbound)
    {
        var first = outbound && _options.ProbeToken is not null;
        try
        {
            while (true)
            {
                if (from.Available == 0)
                {
                    await from.ReceiveAsync(Memory<byte>.Empty, SocketFlags.None).ConfigureAwait(false);
                }
                var buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
                try
                {
                    var n = await from.ReceiveAsync(buffer.AsMemory(0, BufferSize), SocketFlags.None).ConfigureAwait(false);
                    if (n == 0)
                    {
                        if (_options.PeerEofClosesBoth && outbound)
                        {
                            both.Dispose();
                        }
                        else
                        {
                            to.Shutdown(SocketShutdown.Send);
                        }
                        return;
                    }
                    if (first)
                    {
                        first = false;
                        if (buffer.AsSpan(0, n).SequenceEqual(_options.ProbeToken))
                        {
                            Interlocked.Increment(ref _probes);
                            both.Dispose();
                            return;
                        }
                    }
                    var sent = 0;
                    while (sent < n)
                    {
                        sent += await to.SendAsync(buffer.AsMemory(sent, n - sent), SocketFlags.None).ConfigureAwait(false);
                    }
                    Interlocked.Add(ref outbound ? ref _bytesOut : ref _bytesIn, n);
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                }
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            both.Dispose();
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
            await loop.WaitAsync(TimeSpan.FromSeconds(5), _time).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
        // _stop is not disposed: relays still winding down may read its token; it holds no timer.
    }
}

/// <summary>
/// The local ports this daemon's relays connect from. SSH.NET's inner listener (on loopback, where any local user
/// could connect) asks it for every connection it accepts and refuses those that are not ours, before it opens a
/// channel: nobody reaches the server's network around the relay's counters and limits.
/// </summary>
internal sealed class InnerPortGuard
{
    private readonly ConcurrentDictionary<int, byte> _ours = new();

    public void Allow(int port) => _ours[port] = 0;

    public void Forget(int port) => _ours.TryRemove(port, out _);

    /// <summary>For SSH.NET's RequestReceived: throwing there makes SSH.NET close the connection unserved.</summary>
    /// <exception cref="ForeignConnectionException">The connection is not from one of our relays.</exception>
    public void Check(string originatorHost, uint originatorPort)
    {
        if (!_ours.ContainsKey((int)originatorPort) || !IPAddress.TryParse(originatorHost, out var a) || !IPAddress.IsLoopback(a))
        {
            throw new ForeignConnectionException();
        }
    }
}

/// <summary>A connection to an inner port that did not come from our relay; refused, and not a fault of the forward.</summary>
internal sealed class ForeignConnectionException : Exception
{
    public ForeignConnectionException() : base("connection to the inner port from outside the relay refused")
    {
    }

    public ForeignConnectionException(string message) : base(message)
    {
    }

    public ForeignConnectionException(string message, Exception inner) : base(message, inner)
    {
    }
}
