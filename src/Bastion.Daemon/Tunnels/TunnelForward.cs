using System.Net;
using System.Net.Sockets;
using Bastion.Config;
using Bastion.Ssh;
using Renci.SshNet;
using Renci.SshNet.Common;

namespace Bastion.Daemon.Tunnels;

/// <summary>
/// The forward of one tunnel on one SSH session: the <see cref="CountingRelay"/> that counts its traffic plus, for -L
/// and -D, the session's <see cref="DirectTcpipChannels"/> it opens a channel on per connection, for -R SSH.NET's
/// remote forwarded port. Made fresh for every attempt and disposed with it (SSH.NET cannot restart a forward after a
/// drop). A remote forward also keeps a small local forward back to the server's bound port for the end-to-end check.
/// </summary>
internal sealed class TunnelForward : IAsyncDisposable
{
    private readonly SshClient _client;
    private readonly SshGlobalRequests _requests;
    private readonly TimeProvider _time;
    private readonly List<ForwardedPort> _ports = [];
    private readonly InnerPortGuard _guard = new();

    /// <summary>What the end-to-end check sends so the -R relay knows it and closes it once the target accepted.</summary>
    private readonly byte[] _probeToken = System.Text.Encoding.ASCII.GetBytes(
        "bastion-probe-" + Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(16)));
    private CountingRelay? _relay;
    private DirectTcpipChannels? _channels;
    private ForwardedPortLocal? _loopback;

    /// <summary>How long a -R forward's stop waits for an earlier global request's reply before it goes ahead.</summary>
    private static readonly TimeSpan StopWait = TimeSpan.FromSeconds(5);

    private TunnelForward(SshClient client, SshGlobalRequests requests, TimeProvider time)
    {
        _client = client;
        _requests = requests;
        _time = time;
    }

    public CountingRelay Relay => _relay!;

    /// <summary>Connections the end-to-end check made through the relay (not users' connections).</summary>
    public long EndToEndChecks => Interlocked.Read(ref _checks);

    private long _checks;
    public int BoundPort { get; private set; }

    /// <summary>The first exception SSH.NET reported on the forward (e.g. it lost its listener).</summary>
    public Exception? Fault { get; private set; }

    /// <exception cref="SshFailureException">the bind is busy, or the server refused the forward.</exception>
    public static async Task<TunnelForward> StartAsync(TunnelConfig tunnel, SshClient client, SshGlobalRequests requests, TimeProvider time,
        Action<string> onRelayError)
    {
        var forward = new TunnelForward(client, requests, time);
        try
        {
            await forward.StartCoreAsync(tunnel, onRelayError).ConfigureAwait(false);
            return forward;
        }
        catch
        {
            await forward.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private async Task StartCoreAsync(TunnelConfig tunnel, Action<string> onRelayError)
    {
        var limits = RelayLimitsFor(tunnel.Kind, tunnel.Limits);
        switch (tunnel.Kind)
        {
            case TunnelKind.Local:
            case TunnelKind.Dynamic:
            {
                // Our listener first: a busy bind fails before anything is asked of the server. Each accepted
                // connection gets its own direct-tcpip channel (no inner port, no second socket, no thread).
                var dynamic = tunnel.Kind == TunnelKind.Dynamic;
                var target = tunnel.Target;
                _channels = DirectTcpipChannels.Attach(_client);
                var route = dynamic ? SocksAsync : CountingRelay.To(() => (target!.Host, target!.Port));
                _relay = Listen(tunnel, await ResolveAsync(tunnel.Bind).ConfigureAwait(false),
                    new RelayOptions(limits, Channels: _channels), route, onRelayError);
                BoundPort = _relay.BoundPort;
                _relay.Start();
                break;
            }
            case TunnelKind.Remote:
            {
                var target = tunnel.Target!;
                // Only SSH.NET (this process) may use the inner port; its channel never half-closes, so its EOF ends both sides.
                _relay = new CountingRelay(new IPEndPoint(IPAddress.Loopback, 0),
                    new RelayOptions(limits, PeerEofClosesBoth: true, OwnProcessOnly: true, ProbeToken: _probeToken),
                    CountingRelay.To(() => (target.Host, target.Port)), onRelayError, _time);
                var port = new ForwardedPortRemote(tunnel.Bind.Host, (uint)tunnel.Bind.Port, "127.0.0.1", (uint)_relay.BoundPort);
                _relay.Start();
                try
                {
                    Add(port, guarded: false);
                }
                catch (SshException e) when (e is not SshOperationTimeoutException and not SshConnectionException)
                {
                    // The server says only "request failed"; find out whether something listens there already.
                    var busy = await RemotePortAnswersAsync(tunnel.Bind, TimeSpan.FromSeconds(2)).ConfigureAwait(false);
                    var bind = tunnel.Bind.ToString();
                    throw new SshFailureException(busy
                        ? new SshFailure(SshFailureKind.RemotePortBusy, SshFailure.RemotePortBusyReason(bind))
                        : new SshFailure(SshFailureKind.ForwardRejected, SshFailure.ForwardRejectedReason(bind)));
                }
                BoundPort = tunnel.Bind.Port;
                break;
            }
        }
    }

    /// <summary>
    /// The relay's limits for <paramref name="limits"/>: a -R relay's only peer is SSH.NET (one source), so it has the
    /// total limit alone (who connected on the server is not known here).
    /// </summary>
    private static RelayLimits RelayLimitsFor(TunnelKind kind, TunnelLimitsConfig limits) => kind == TunnelKind.Remote
        ? new RelayLimits(limits.Connections, int.MaxValue)
        : new RelayLimits(limits.Connections, limits.PerSource);

    /// <summary>New limits for the running relay (a reload that changed only <c>limits</c>); open connections stay.</summary>
    public void UpdateLimits(TunnelKind kind, TunnelLimitsConfig limits) => _relay?.UpdateLimits(RelayLimitsFor(kind, limits));

    /// <summary>
    /// Dynamic tunnels: the SOCKS5 request names the destination; the relay opens a direct-tcpip channel to it. Success
    /// is answered once the server connected (before any byte of the destination can arrive), failure when it could not.
    /// </summary>
    private static async Task<Upstream?> SocksAsync(Socket client, CancellationToken cancellationToken)
    {
        if (await Socks5Handshake.ReadRequestAsync(client, cancellationToken).ConfigureAwait(false) is not { } destination)
        {
            return null;
        }
        return new Upstream(destination.Host, destination.Port, null,
            [5, Socks5Handshake.ReplySucceeded, 0, 1, 0, 0, 0, 0, 0, 0],
            [5, Socks5Handshake.ReplyHostUnreachable, 0, 1, 0, 0, 0, 0, 0, 0]);
    }

    private void Release(ForwardedPort port)
    {
        try
        {
            if (port is ForwardedPortRemote remote)
            {
                // cancel-tcpip-forward is a global request: it takes its turn with the probe (see SshGlobalRequests).
                _requests.RunForwardRequest(remote.Stop, sends: remote.IsStarted, StopWait);
            }
            port.Stop();
            lock (_client)
            {
                _client.RemoveForwardedPort(port);
            }
        }
#pragma warning disable CA1031 // known upstream issue: removing a port after the session dropped throws
        catch (Exception)
#pragma warning restore CA1031
        {
        }
        try
        {
            port.Dispose();
        }
#pragma warning disable CA1031 // disposal after a drop may throw anything; the port is gone either way
        catch (Exception)
#pragma warning restore CA1031
        {
        }
    }

    private CountingRelay Listen(TunnelConfig tunnel, IPEndPoint at, RelayOptions options,
        Func<Socket, CancellationToken, Task<Upstream?>> route, Action<string> onError)
    {
        try
        {
            return new CountingRelay(at, options, route, onError, _time);
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressAlreadyInUse)
        {
            throw new SshFailureException(new SshFailure(SshFailureKind.LocalPortBusy,
                $"local port busy: something on this machine already listens on {tunnel.Bind} (ss -ltnp 'sport = :{tunnel.Bind.Port}' shows what)"));
        }
        catch (SocketException e)
        {
            throw new SshFailureException(new SshFailure(SshFailureKind.Other, $"cannot listen on {tunnel.Bind}: {e.SocketErrorCode}"));
        }
    }

    private static async Task<IPEndPoint> ResolveAsync(Endpoint endpoint)
    {
        if (IPAddress.TryParse(endpoint.Host, out var address))
        {
            return new IPEndPoint(address, endpoint.Port);
        }
        var addresses = await Dns.GetHostAddressesAsync(endpoint.Host).ConfigureAwait(false);
        return new IPEndPoint(addresses.First(), endpoint.Port);
    }

    private void Add(ForwardedPort port, bool guarded)
    {
        if (guarded)
        {
            // Any local user can connect to SSH.NET's loopback listener: only our relay's connections get a channel.
            port.RequestReceived += (_, e) => _guard.Check(e.OriginatorHost, e.OriginatorPort);
        }
        port.Exception += (_, e) =>
        {
            if (e.Exception is not ForeignConnectionException)
            {
                Fault ??= e.Exception;
            }
        };
        _ports.Add(port);
        lock (_client) // SSH.NET's port list is not safe for concurrent use; tunnels on one session start together
        {
            _client.AddForwardedPort(port);
        }
        if (port is ForwardedPortRemote)
        {
            // tcpip-forward is a global request: it takes its turn with the probe (see SshGlobalRequests).
            _requests.RunForwardRequest(port.Start, sends: true, SshConnectionSettings.ConnectTimeout);
        }
        else
        {
            port.Start();
        }
    }

    /// <summary>
    /// Connects from the server's side to <paramref name="bind"/> (a direct-tcpip channel through this session) and
    /// reports whether something there accepted and kept the connection open. SSH.NET closes our end at once when the
    /// server cannot connect (or does not allow the channel).
    /// </summary>
    public async Task<bool> RemotePortAnswersAsync(Endpoint bind, TimeSpan timeout)
    {
        var loopback = EnsureLoopback(bind);
        using var guarded = new GuardedSocket(_guard);
        var socket = guarded.Socket;
        using var cts = new CancellationTokenSource(timeout, _time);
        try
        {
            await socket.ConnectAsync(IPAddress.Loopback, (int)loopback.BoundPort, cts.Token).ConfigureAwait(false);
            var buffer = new byte[256];
            var n = await socket.ReceiveAsync(buffer, SocketFlags.None, cts.Token).ConfigureAwait(false);
            return n > 0; // data (a banner): something answers; EOF: nothing there
        }
        catch (OperationCanceledException)
        {
            return true; // connected and held open: something accepted it
        }
        catch (SocketException)
        {
            return false;
        }
    }

    /// <summary>
    /// End-to-end check of a remote forward: connect through the server's bound port and wait until this relay has
    /// reached the local target (or failed to).
    /// </summary>
    public async Task<EndToEndResult> CheckEndToEndAsync(Endpoint bind, Endpoint target, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var loopback = EnsureLoopback(bind);
        var (connects, failures) = (Relay.UpstreamConnects, Relay.UpstreamFailures);
        using var guarded = new GuardedSocket(_guard);
        var socket = guarded.Socket;
        using var timer = new CancellationTokenSource(timeout, _time);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timer.Token);
        try
        {
            Interlocked.Increment(ref _checks);
            await socket.ConnectAsync(IPAddress.Loopback, (int)loopback.BoundPort, cts.Token).ConfigureAwait(false);
            // Marks this connection as the probe: the relay closes it (and its target connection) once connected.
            await socket.SendAsync(_probeToken, SocketFlags.None, cts.Token).ConfigureAwait(false);
            while (true)
            {
                if (Relay.UpstreamConnects > connects)
                {
                    return EndToEndResult.Ok;
                }
                if (Relay.UpstreamFailures > failures)
                {
                    return new(EndToEndOutcome.TargetRefused, $"the forward works but the local target {target} does not accept connections");
                }
                await Task.Delay(TimeSpan.FromMilliseconds(20), _time, cts.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return new(EndToEndOutcome.NoAnswerThroughServer, $"nothing came back through {bind} on the server within {Durations.Format(timeout)}");
        }
        catch (SocketException e)
        {
            return new(EndToEndOutcome.LocalError, $"local loopback port: {e.SocketErrorCode}");
        }
    }

    /// <summary>A loopback socket the inner ports' guard lets through while it is open.</summary>
    private sealed class GuardedSocket : IDisposable
    {
        private readonly InnerPortGuard _guard;
        private readonly int _port;

        public GuardedSocket(InnerPortGuard guard)
        {
            _guard = guard;
            Socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            Socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            _port = ((IPEndPoint)Socket.LocalEndPoint!).Port;
            guard.Allow(_port);
        }

        public Socket Socket { get; }

        public void Dispose()
        {
            Socket.Dispose();
            _guard.Forget(_port);
        }
    }

    private ForwardedPortLocal EnsureLoopback(Endpoint bind)
    {
        if (_loopback is null)
        {
            var host = bind.Host switch
            {
                "0.0.0.0" or "" or "*" or "localhost" => "127.0.0.1",
                "::" => "::1",
                var h => h,
            };
            _loopback = new ForwardedPortLocal("127.0.0.1", 0, host, (uint)bind.Port);
            _loopback.RequestReceived += (_, e) => _guard.Check(e.OriginatorHost, e.OriginatorPort);
            _ports.Add(_loopback);
            lock (_client)
            {
                _client.AddForwardedPort(_loopback);
            }
            _loopback.Start();
        }
        return _loopback;
    }

    /// <summary>Closes the relay and every SSH.NET port (<see cref="Release"/>); SSH.NET's stop/remove can hang after a drop: bounded.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_relay is { } relay)
        {
            await relay.DisposeAsync().ConfigureAwait(false);
        }
        _channels?.Dispose();
        var ports = _ports.ToArray();
        _ports.Clear();
        var stop = Task.Run(() =>
        {
            foreach (var port in ports)
            {
                Release(port);
            }
        });
        await stop.WaitAsync(TimeSpan.FromSeconds(5), _time).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }
}
