using System.Buffers;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace Bastion.Daemon.Tunnels;

/// <summary>
/// Where one relayed connection goes; <paramref name="Reply"/> is sent to the client once the upstream is reached,
/// <paramref name="FailureReply"/> when it could not be (SOCKS answers).
/// </summary>
internal sealed record Upstream(string Host, int Port, byte[]? Reply = null, byte[]? FailureReply = null);

/// <summary>How many connections one relay holds at most, in total and per source (a loopback peer's uid, else its address).</summary>
internal sealed record RelayLimits(int Connections, int PerSource)
{
    public static RelayLimits Unlimited { get; } = new(int.MaxValue, int.MaxValue);
}

/// <summary>Why a connection was turned away before anything was relayed.</summary>
internal enum RelayRefusal { TunnelLimit, SourceLimit, OutOfResources }

/// <summary>
/// Opens the upstream side of one relayed connection (an SSH channel for -L/-D, a TCP connection to the local target
/// for -R, see <see cref="RelayUpstreams"/>); <paramref name="origin"/> is the client's address when it is a socket.
/// </summary>
/// <exception cref="UpstreamUnreachableException">it could not be reached (the reason is for the log).</exception>
/// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> ended the attempt.</exception>
internal delegate Task<IRelayEnd> UpstreamOpener(Upstream upstream, IPEndPoint? origin, CancellationToken cancellationToken);

/// <summary>The upstream could not be reached; <see cref="Exception.Message"/> says why, without secrets.</summary>
internal sealed class UpstreamUnreachableException : Exception
{
    public UpstreamUnreachableException(string message) : base(message)
    {
    }

    public UpstreamUnreachableException(string message, Exception inner) : base(message, inner)
    {
    }

    public UpstreamUnreachableException()
    {
    }
}

/// <summary>What a relay does besides copying bytes.</summary>
/// <param name="Limits">Past these, a new connection is refused at once and counted.</param>
/// <param name="Open">How the upstream of each connection is reached.</param>
/// <param name="ProbeToken">
/// A connection whose first bytes are exactly this is the tunnel's own end-to-end probe: once the upstream accepted
/// it, both sides are closed at once and nothing is forwarded (the probe never holds a connection at the target).
/// </param>
/// <param name="OnOpenTimeout">Told when an upstream did not answer within <see cref="CountingRelay.ConnectTimeout"/> (the server may be hung).</param>
internal sealed record RelayOptions(RelayLimits Limits, UpstreamOpener Open, byte[]? ProbeToken = null, Action? OnOpenTimeout = null);

/// <summary>
/// Relays connections between two <see cref="IRelayEnd"/>s and counts what passes: bytes each way, active and total
/// connections, upstream opens that worked and failed, and connections refused past the limits.
/// -L/-D: a TCP listener; users connect to it, and each connection gets its own direct-tcpip channel.
/// -R: no listener; the server's forwarded-tcpip channels are handed in (<see cref="AcceptChannel"/>), and each gets
/// its own TCP connection to the local target. No loopback hop and no port of ours that anyone else could reach.
/// Fully asynchronous: an idle connection holds no thread and no buffer, so the daemon's thread count does not grow
/// with the number of connections; EOF is carried each way on its own (half-close), and the connection ends when both
/// directions ended or either side closed or failed.
/// </summary>
internal sealed class CountingRelay : IAsyncDisposable
{
    /// <summary>How long a route may take (a SOCKS client to send its request), and an upstream to accept.</summary>
    internal static readonly TimeSpan HandshakeTimeout = TimeSpan.FromSeconds(30);
    internal static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(30);

    private readonly Socket? _listener;
    private readonly Func<Socket, CancellationToken, Task<Upstream?>>? _route;
    private readonly RelayOptions _options;
    private readonly Action<string> _onError;
    private readonly TimeProvider _time;
    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _lock = new();
    private readonly HashSet<IRelayEnd> _open = [];
    private readonly Dictionary<string, int> _perSource = new(StringComparer.Ordinal);
    private RelayLimits _limits;
    private Task? _acceptLoop;
    private long _bytesOut, _bytesIn, _active, _total, _upstreamConnects, _upstreamFailures;
    private long _refusedTunnelLimit, _refusedSourceLimit, _refusedResources, _probes;

    /// <summary>A relay whose users connect to <paramref name="listen"/> (-L, -D).</summary>
    /// <param name="listen">Where users connect.</param>
    /// <param name="options">Limits, and how upstreams are reached.</param>
    /// <param name="route">Asked per connection where it goes (may speak a handshake first, e.g. SOCKS); null: drop it.</param>
    /// <param name="onError">Told about connections that failed (for a debug log line).</param>
    /// <param name="time">The host's clock: handshake and connect timeouts, pauses.</param>
    /// <exception cref="SocketException">The listen address cannot be bound (in use, not local).</exception>
    public CountingRelay(IPEndPoint listen, RelayOptions options, Func<Socket, CancellationToken, Task<Upstream?>> route, Action<string> onError,
        TimeProvider time)
        : this(options, onError, time)
    {
        _route = route;
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

    /// <summary>A relay without a listener: its connections are the server's channels handed to <see cref="AcceptChannel"/> (-R).</summary>
    public CountingRelay(RelayOptions options, Action<string> onError, TimeProvider time)
    {
        _time = time;
        _options = options;
        _limits = options.Limits;
        _onError = onError;
    }

    /// <summary>A relay to one fixed upstream.</summary>
    public static Func<Socket, CancellationToken, Task<Upstream?>> To(Func<(string Host, int Port)> upstream) =>
        (_, _) =>
        {
            var (host, port) = upstream();
            return Task.FromResult<Upstream?>(new Upstream(host, port));
        };

    /// <summary>The listener's port (0 without one).</summary>
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
        _ => Interlocked.Read(ref _refusedResources),
    };

    /// <summary>Starts accepting on the listener (a relay without one has nothing to start).</summary>
    public void Start()
    {
        if (_listener is not null)
        {
            _acceptLoop = Task.Run(AcceptLoopAsync);
        }
    }

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
                client = await _listener!.AcceptAsync(_stop.Token).ConfigureAwait(false);
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
                var end = new SocketRelayEnd(client);
                var source = Limits.PerSource < int.MaxValue ? PeerIdentity.SourceKey(client) : null;
                if (Admit(end, source) is { } refused)
                {
                    Refuse(client, refused);
                    continue;
                }
                _ = RelayAsync(end, source, client, null, null);
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

    /// <summary>
    /// A channel the server opened for this relay's remote forward (-R), not yet confirmed: it is counted against the
    /// limits (<paramref name="source"/>: who connected on the server, as the server reports it), then confirmed once
    /// <paramref name="upstream"/> accepted, or refused (resource shortage past the limits, connect failed if the
    /// target does not answer). Never blocks (called on SSH.NET's receive thread).
    /// </summary>
    public void AcceptChannel(TcpipChannel channel, string source, Upstream upstream)
    {
        try
        {
            if (_stop.IsCancellationRequested)
            {
                channel.Refuse(TcpipChannel.AdministrativelyProhibited, "the forward is closing");
                return;
            }
            var key = Limits.PerSource < int.MaxValue ? source : null; // the same key to count and to release
            if (Admit(channel, key) is { } refused)
            {
                Count(refused);
                channel.Refuse(TcpipChannel.ResourceShortage, refused == RelayRefusal.SourceLimit
                    ? "too many connections from this address" : "too many connections");
                return;
            }
            _ = RelayAsync(channel, key, null, channel, upstream);
        }
#pragma warning disable CA1031 // a failure taking one connection refuses that one connection
        catch (Exception e)
#pragma warning restore CA1031
        {
            Interlocked.Increment(ref _refusedResources);
            _onError("cannot take a connection: " + e.GetType().Name);
            channel.Refuse(TcpipChannel.ResourceShortage, "cannot take the connection");
        }
    }

    /// <summary>Counts the connection against the limits and registers it, or says why it is refused.</summary>
    private RelayRefusal? Admit(IRelayEnd end, string? source)
    {
        lock (_lock)
        {
            var limits = _limits;
            if (source is not null && _perSource.GetValueOrDefault(source) >= limits.PerSource)
            {
                return RelayRefusal.SourceLimit;
            }
            if (_open.Count >= limits.Connections)
            {
                return RelayRefusal.TunnelLimit;
            }
            if (source is not null)
            {
                _perSource[source] = _perSource.GetValueOrDefault(source) + 1;
            }
            _open.Add(end);
        }
        Interlocked.Increment(ref _total);
        Interlocked.Increment(ref _active);
        return null;
    }

    private void Count(RelayRefusal why)
    {
        switch (why)
        {
            case RelayRefusal.SourceLimit:
                Interlocked.Increment(ref _refusedSourceLimit);
                break;
            case RelayRefusal.TunnelLimit:
                Interlocked.Increment(ref _refusedTunnelLimit);
                break;
            default:
                Interlocked.Increment(ref _refusedResources);
                break;
        }
    }

    private void Refuse(Socket client, RelayRefusal why)
    {
        Count(why);
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

    /// <summary>
    /// One admitted connection: <paramref name="client"/> (an accepted socket, whose route may speak a handshake first)
    /// or <paramref name="channel"/> (a server's channel to confirm, going to <paramref name="fixedUpstream"/>).
    /// </summary>
    private async Task RelayAsync(IRelayEnd accepted, string? source, Socket? client, TcpipChannel? channel, Upstream? fixedUpstream)
    {
        await Task.Yield(); // the accept loop (or SSH.NET's receive thread) goes on at once
        IRelayEnd? upstream = null;
        try
        {
            Upstream? chosen = fixedUpstream;
            if (client is not null)
            {
                client.NoDelay = true;
                using var timer = new CancellationTokenSource(HandshakeTimeout, _time);
                using var handshake = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token, timer.Token);
                chosen = await _route!(client, handshake.Token).ConfigureAwait(false);
            }
            if (chosen is null)
            {
                return;
            }
            upstream = await OpenUpstreamAsync(chosen, client, channel).ConfigureAwait(false);
            if (upstream is null)
            {
                return;
            }
            if (chosen.Reply is { } reply && client is not null)
            {
                await client.SendAsync(reply, SocketFlags.None, _stop.Token).ConfigureAwait(false);
            }
            if (channel is not null && !channel.Confirm())
            {
                return; // closed meanwhile (the forward is stopping) or the session is gone
            }
            var both = new BothEnds(accepted, upstream);
            await Task.WhenAll(
                PumpAsync(both, accepted, upstream, outbound: true),
                PumpAsync(both, upstream, accepted, outbound: false)).ConfigureAwait(false);
        }
#pragma warning disable CA1031 // one connection's failure never reaches the tunnel
        catch (Exception e)
#pragma warning restore CA1031
        {
            _onError(e.GetType().Name + ": " + e.Message);
        }
        finally
        {
            accepted.Dispose();
            upstream?.Dispose();
            lock (_lock)
            {
                _open.Remove(accepted);
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
        }
    }

    /// <summary>Reaches the upstream within <see cref="ConnectTimeout"/>; null (counted, logged, the client told) when it cannot.</summary>
    private async Task<IRelayEnd?> OpenUpstreamAsync(Upstream chosen, Socket? client, TcpipChannel? channel)
    {
        string why;
        var timedOut = false;
        try
        {
            using var timer = new CancellationTokenSource(ConnectTimeout, _time);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token, timer.Token);
            var upstream = await _options.Open(chosen, client?.RemoteEndPoint as IPEndPoint, timeout.Token).ConfigureAwait(false);
            Interlocked.Increment(ref _upstreamConnects);
            return upstream;
        }
        catch (UpstreamUnreachableException e)
        {
            why = e.Message;
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
            channel?.Refuse(TcpipChannel.AdministrativelyProhibited, "the forward is closing");
            return null; // the relay is being disposed: not the upstream's failure
        }
        catch (OperationCanceledException)
        {
            why = "timed out";
            timedOut = true;
        }
        Interlocked.Increment(ref _upstreamFailures);
        _onError($"cannot reach {chosen.Host}:{chosen.Port}: {why}");
        if (timedOut)
        {
            _options.OnOpenTimeout?.Invoke();
        }
        if (chosen.FailureReply is { } refused && client is not null)
        {
            await client.SendAsync(refused, SocketFlags.None, _stop.Token).ConfigureAwait(false);
        }
        channel?.Refuse(TcpipChannel.ConnectFailed, timedOut ? "connect timed out" : "connect failed");
        return null;
    }

    /// <summary>The two ends of one relayed connection: closing it closes both (a pending read on either ends).</summary>
    private sealed class BothEnds(IRelayEnd a, IRelayEnd b)
    {
        private int _closed;

        public void Close()
        {
            if (Interlocked.Exchange(ref _closed, 1) == 0)
            {
                a.Dispose();
                b.Dispose();
            }
        }
    }

    /// <summary>
    /// One direction. EOF from <paramref name="from"/> becomes EOF at <paramref name="to"/> while the other direction
    /// goes on; the end of either side (closed, reset, gone) ends both directions. Outbound (client to upstream) the
    /// first data may be the tunnel's own probe (<see cref="RelayOptions.ProbeToken"/>).
    /// </summary>
    private async Task PumpAsync(BothEnds both, IRelayEnd from, IRelayEnd to, bool outbound)
    {
        var probe = outbound ? _options.ProbeToken : null;
        while (true)
        {
            var read = await from.ReceiveAsync().ConfigureAwait(false);
            switch (read.Kind)
            {
                case RelayReadKind.Data:
                    try
                    {
                        if (probe is not null)
                        {
                            var isProbe = read.Buffer.AsSpan(0, read.Length).SequenceEqual(probe);
                            probe = null;
                            if (isProbe)
                            {
                                Interlocked.Increment(ref _probes);
                                both.Close();
                                return;
                            }
                        }
                        if (!await to.SendAsync(read.Buffer!, 0, read.Length).ConfigureAwait(false))
                        {
                            both.Close(); // nothing more can reach that side
                            return;
                        }
                        Interlocked.Add(ref outbound ? ref _bytesOut : ref _bytesIn, read.Length);
                    }
                    finally
                    {
                        from.Consumed(read.Buffer!, read.Length);
                    }
                    break;
                case RelayReadKind.Eof:
                    to.SendEof();
                    if (!from.ReportsCloseAfterEof)
                    {
                        return;
                    }
                    break;
                default:
                    both.Close();
                    return;
            }
        }
    }

    /// <summary>Stops listening and closes every relayed connection (a restarted tunnel starts clean).</summary>
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        _listener?.Dispose();
        IRelayEnd[] open;
        lock (_lock)
        {
            open = [.. _open];
        }
        foreach (var end in open)
        {
            end.Dispose();
        }
        if (_acceptLoop is { } loop)
        {
            await loop.WaitAsync(TimeSpan.FromSeconds(5), _time).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
        // _stop is not disposed: relays still winding down may read its token; it holds no timer.
    }
}

/// <summary>How a relay reaches its upstreams.</summary>
internal static class RelayUpstreams
{
    /// <summary>A TCP connection to the upstream's host and port (-R: the local target).</summary>
    public static UpstreamOpener Tcp { get; } = async (upstream, _, cancellationToken) =>
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(upstream.Host, upstream.Port, cancellationToken).ConfigureAwait(false);
            return new SocketRelayEnd(socket);
        }
        catch (SocketException e)
        {
            socket.Dispose();
            throw new UpstreamUnreachableException(e.SocketErrorCode.ToString(), e);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    };

    /// <summary>
    /// A <c>direct-tcpip</c> channel on <paramref name="channels"/>' session: the server connects to the upstream
    /// (-L, -D). The originator is the user's end (what sshd logs and what OpenSSH's ssh -L sends).
    /// </summary>
    public static UpstreamOpener Channel(TcpipChannels channels) => async (upstream, origin, cancellationToken) =>
    {
        var channel = channels.Create();
        try
        {
            await channel.OpenAsync(upstream.Host, upstream.Port, origin?.Address.ToString() ?? "127.0.0.1", origin?.Port ?? 0, cancellationToken)
                .ConfigureAwait(false);
            return channel;
        }
        catch (Exception e) when (e is ChannelOpenRefusedException or Renci.SshNet.Common.SshConnectionException)
        {
            channel.Close();
            throw new UpstreamUnreachableException(e.Message, e);
        }
        catch
        {
            channel.Close();
            throw;
        }
    };
}
