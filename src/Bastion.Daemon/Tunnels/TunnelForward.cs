using System.Net;
using System.Net.Sockets;
using Bastion.Config;
using Bastion.Ssh;
using Renci.SshNet;
using Renci.SshNet.Common;

namespace Bastion.Daemon.Tunnels;

/// <summary>
/// The forward of one tunnel on one SSH session: SSH.NET's forwarded port plus the <see cref="CountingRelay"/> that
/// counts its traffic. Made fresh for every attempt and disposed with it (SSH.NET cannot restart a forward after a
/// drop). A remote forward also keeps a small local forward back to the server's bound port for the end-to-end check.
/// </summary>
internal sealed class TunnelForward : IAsyncDisposable
{
    private readonly SshClient _client;
    private readonly List<ForwardedPort> _ports = [];
    private CountingRelay? _relay;
    private ForwardedPortLocal? _loopback;

    private TunnelForward(SshClient client) => _client = client;

    public CountingRelay Relay => _relay!;

    /// <summary>Connections the end-to-end check made through the relay (not users' connections).</summary>
    public long EndToEndChecks => Interlocked.Read(ref _checks);

    private long _checks;
    public int BoundPort { get; private set; }

    /// <summary>The first exception SSH.NET reported on the forward (e.g. it lost its listener).</summary>
    public Exception? Fault { get; private set; }

    /// <exception cref="SshFailureException">the bind is busy, or the server refused the forward.</exception>
    public static async Task<TunnelForward> StartAsync(TunnelConfig tunnel, SshClient client, Action<string> onRelayError)
    {
        var forward = new TunnelForward(client);
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
        switch (tunnel.Kind)
        {
            case TunnelKind.Local:
            case TunnelKind.Dynamic:
            {
                // Our listener first: a busy bind fails before anything is asked of the server.
                var dynamic = tunnel.Kind == TunnelKind.Dynamic;
                _relay = Listen(tunnel, await ResolveAsync(tunnel.Bind).ConfigureAwait(false), onRelayError, out var inner, dynamic ? SocksAsync : null);
                if (!dynamic)
                {
                    var port = new ForwardedPortLocal("127.0.0.1", 0, tunnel.Target!.Host, (uint)tunnel.Target.Port);
                    Add(port);
                    inner.Port = (int)port.BoundPort;
                }
                BoundPort = _relay.BoundPort;
                _relay.Start();
                break;
            }
            case TunnelKind.Remote:
            {
                var target = tunnel.Target!;
                _relay = new CountingRelay(new IPEndPoint(IPAddress.Loopback, 0), () => (target.Host, target.Port), onRelayError);
                var port = new ForwardedPortRemote(tunnel.Bind.Host, (uint)tunnel.Bind.Port, "127.0.0.1", (uint)_relay.BoundPort);
                _relay.Start();
                try
                {
                    Add(port);
                }
                catch (SshException)
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

    private sealed class PortHolder
    {
        public int Port;
    }

    /// <summary>
    /// Dynamic tunnels: the SOCKS5 request names the destination; a local forward to it is made for this one
    /// connection (SSH.NET has no public way to open a direct-tcpip channel otherwise) and removed when it ends.
    /// </summary>
    private async Task<Upstream?> SocksAsync(Socket client, CancellationToken cancellationToken)
    {
        if (await Socks5Handshake.ReadRequestAsync(client, cancellationToken).ConfigureAwait(false) is not { } destination)
        {
            return null;
        }
        var port = new ForwardedPortLocal("127.0.0.1", 0, destination.Host, (uint)destination.Port);
        try
        {
            lock (_client)
            {
                _client.AddForwardedPort(port);
            }
            port.Start();
        }
        catch (Exception e) when (e is SshException or InvalidOperationException or ObjectDisposedException or SocketException)
        {
            Release(port);
            await Socks5Handshake.ReplyAsync(client, Socks5Handshake.ReplyGeneralFailure, cancellationToken).ConfigureAwait(false);
            return null;
        }
        // Success is answered once connected to the forward: before any byte of the destination can arrive.
        return new Upstream("127.0.0.1", (int)port.BoundPort, () => Release(port), [5, Socks5Handshake.ReplySucceeded, 0, 1, 0, 0, 0, 0, 0, 0]);
    }

    private void Release(ForwardedPort port)
    {
        try
        {
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

    private static CountingRelay Listen(TunnelConfig tunnel, IPEndPoint at, Action<string> onError, out PortHolder inner,
        Func<Socket, CancellationToken, Task<Upstream?>>? handshake)
    {
        var holder = new PortHolder();
        inner = holder;
        try
        {
            return new CountingRelay(at, () => ("127.0.0.1", holder.Port), onError, handshake);
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressAlreadyInUse)
        {
            throw new SshFailureException(new SshFailure(SshFailureKind.LocalPortBusy,
                $"local port busy: something on this machine already listens on {tunnel.Bind} (ss -ltnp 'sport = :{tunnel.Bind.Port}' shows what)"));
        }
        catch (SocketException e)
        {
            throw new SshFailureException(new SshFailure(SshFailureKind.LocalPortBusy, $"cannot listen on {tunnel.Bind}: {e.SocketErrorCode}"));
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

    private void Add(ForwardedPort port)
    {
        port.Exception += (_, e) => Fault ??= e.Exception;
        _ports.Add(port);
        lock (_client) // SSH.NET's port list is not safe for concurrent use; tunnels on one session start together
        {
            _client.AddForwardedPort(port);
        }
        port.Start();
    }

    /// <summary>
    /// Connects from the server's side to <paramref name="bind"/> (a direct-tcpip channel through this session) and
    /// reports whether something there accepted and kept the connection open. SSH.NET closes our end at once when the
    /// server cannot connect (or does not allow the channel).
    /// </summary>
    public async Task<bool> RemotePortAnswersAsync(Endpoint bind, TimeSpan timeout)
    {
        var loopback = EnsureLoopback(bind);
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        using var cts = new CancellationTokenSource(timeout);
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
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout);
        try
        {
            Interlocked.Increment(ref _checks);
            await socket.ConnectAsync(IPAddress.Loopback, (int)loopback.BoundPort, cts.Token).ConfigureAwait(false);
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
                await Task.Delay(20, cts.Token).ConfigureAwait(false);
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
        var ports = _ports.ToArray();
        _ports.Clear();
        var stop = Task.Run(() =>
        {
            foreach (var port in ports)
            {
                Release(port);
            }
        });
        await stop.WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }
}
