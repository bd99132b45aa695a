using System.Net;
using System.Net.Sockets;
using Bastion.Config;
using Bastion.Ssh;
using Renci.SshNet;
using Renci.SshNet.Common;

namespace Bastion.Daemon.Tunnels;

/// <summary>
/// The forward of one tunnel on one SSH session: the <see cref="CountingRelay"/> that counts its traffic and the
/// session's <see cref="TcpipChannels"/> it moves the bytes through. -L and -D: a listener here, a direct-tcpip channel
/// per connection. -R: the server listens (<c>tcpip-forward</c>), each connection there arrives as a forwarded-tcpip
/// channel and gets its own TCP connection to the local target. No loopback hop, no port of ours besides the -L/-D bind.
/// Made fresh for every attempt and disposed with it.
/// </summary>
internal sealed class TunnelForward : IAsyncDisposable
{
    /// <summary>How long a -R forward's stop waits for the server to confirm it stopped listening.</summary>
    private static readonly TimeSpan StopWait = TimeSpan.FromSeconds(5);

    private readonly SshGlobalRequests _requests;
    private readonly TcpipChannels _channels;
    private readonly TimeProvider _time;

    /// <summary>What the end-to-end check sends so the -R relay knows it and closes it once the target accepted.</summary>
    private readonly byte[] _probeToken = System.Text.Encoding.ASCII.GetBytes(
        "bastion-probe-" + Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(16)));
    private CountingRelay? _relay;
    private (string Address, uint Port, Action<ForwardedChannelOpen> Accept)? _remote;
    private long _checks, _openTimeouts;

    private TunnelForward(TcpipChannels channels, SshGlobalRequests requests, TimeProvider time)
    {
        _channels = channels;
        _requests = requests;
        _time = time;
    }

    public CountingRelay Relay => _relay!;

    /// <summary>Connections the end-to-end check made through the relay (not users' connections).</summary>
    public long EndToEndChecks => Interlocked.Read(ref _checks);

    /// <summary>Channel opens (-L, -D) the server did not answer within the relay's connect timeout: it may be hung.</summary>
    public long OpenTimeouts => Interlocked.Read(ref _openTimeouts);

    public int BoundPort { get; private set; }

    /// <exception cref="SshFailureException">the bind is busy, or the server refused the forward.</exception>
    /// <exception cref="SshOperationTimeoutException">the server did not answer the -R forward request.</exception>
    public static async Task<TunnelForward> StartAsync(TunnelConfig tunnel, TcpipChannels channels, SshGlobalRequests requests, TimeProvider time,
        Action<string> onRelayError)
    {
        var forward = new TunnelForward(channels, requests, time);
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
        var limits = RelayLimitsFor(tunnel.Limits);
        switch (tunnel.Kind)
        {
            case TunnelKind.Local:
            case TunnelKind.Dynamic:
            {
                // Our listener first: a busy bind fails before anything is asked of the server.
                var target = tunnel.Target;
                var route = tunnel.Kind == TunnelKind.Dynamic ? SocksAsync : CountingRelay.To(() => (target!.Host, target!.Port));
                _relay = Listen(tunnel, await ResolveAsync(tunnel.Bind).ConfigureAwait(false),
                    new RelayOptions(limits, RelayUpstreams.Channel(_channels), OnOpenTimeout: () => Interlocked.Increment(ref _openTimeouts)),
                    route, onRelayError);
                BoundPort = _relay.BoundPort;
                _relay.Start();
                break;
            }
            case TunnelKind.Remote:
            {
                var relay = _relay = new CountingRelay(new RelayOptions(limits, RelayUpstreams.Tcp, ProbeToken: _probeToken), onRelayError, _time);
                var target = new Upstream(tunnel.Target!.Host, tunnel.Target.Port);
                var channels = _channels;
                Action<ForwardedChannelOpen> accept = open => relay.AcceptChannel(
                    channels.Accept(open.RemoteNumber, open.RemoteWindow, open.RemotePacket), open.OriginatorAddress, target);
                var (address, port) = (tunnel.Bind.Host, (uint)tunnel.Bind.Port);
                var outcome = await _requests.ForwardAsync(address, port, accept, SshConnectionSettings.ConnectTimeout, CancellationToken.None)
                    .ConfigureAwait(false);
                switch (outcome)
                {
                    case ForwardOutcome.Granted:
                        _remote = (address, port, accept);
                        BoundPort = tunnel.Bind.Port;
                        break;
                    case ForwardOutcome.Unanswered:
                        throw new SshOperationTimeoutException(
                            $"the server has not answered the forward request within {Durations.Format(SshConnectionSettings.ConnectTimeout)}");
                    default:
                        // The server says only "request failed"; find out whether something listens there already.
                        var busy = await RemotePortAnswersAsync(tunnel.Bind, TimeSpan.FromSeconds(2)).ConfigureAwait(false);
                        var bind = tunnel.Bind.ToString();
                        throw new SshFailureException(busy
                            ? new SshFailure(SshFailureKind.RemotePortBusy, SshFailure.RemotePortBusyReason(bind))
                            : new SshFailure(SshFailureKind.ForwardRejected, SshFailure.ForwardRejectedReason(bind)));
                }
                break;
            }
        }
    }

    /// <summary>
    /// The relay's limits for <paramref name="limits"/>. For -R the source is who connected on the server, as the
    /// server reports it (its address: a uid cannot be known there).
    /// </summary>
    private static RelayLimits RelayLimitsFor(TunnelLimitsConfig limits) => new(limits.Connections, limits.PerSource);

    /// <summary>New limits for the running relay (a reload that changed only <c>limits</c>); open connections stay.</summary>
    public void UpdateLimits(TunnelLimitsConfig limits) => _relay?.UpdateLimits(RelayLimitsFor(limits));

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
        return new Upstream(destination.Host, destination.Port,
            [5, Socks5Handshake.ReplySucceeded, 0, 1, 0, 0, 0, 0, 0, 0],
            [5, Socks5Handshake.ReplyHostUnreachable, 0, 1, 0, 0, 0, 0, 0, 0]);
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

    /// <summary>Where on the server a connection to a remote bind goes: a wildcard or "localhost" bind is reached on loopback.</summary>
    private static string ReachableHost(Endpoint bind) => bind.Host switch
    {
        "0.0.0.0" or "" or "*" or "localhost" => "127.0.0.1",
        "::" => "::1",
        var h => h,
    };

    /// <summary>
    /// Whether something on the server accepts connections at <paramref name="bind"/>: the server connects there for a
    /// direct-tcpip channel and confirms the channel only once it is connected.
    /// </summary>
    public async Task<bool> RemotePortAnswersAsync(Endpoint bind, TimeSpan timeout)
    {
        var channel = _channels.Create();
        using var cts = new CancellationTokenSource(timeout, _time);
        try
        {
            await channel.OpenAsync(ReachableHost(bind), bind.Port, "127.0.0.1", 0, cts.Token).ConfigureAwait(false);
            return true;
        }
        catch (Exception e) when (e is ChannelOpenRefusedException or OperationCanceledException)
        {
            return false;
        }
        finally
        {
            channel.Close();
        }
    }

    /// <summary>
    /// End-to-end check of a remote forward: the server connects to its own bound port for a direct-tcpip channel (as
    /// any user there would), the connection comes back as a forwarded channel, and this waits until the relay reached
    /// the local target (or failed to). The check's first bytes mark it, so the relay closes it at once.
    /// </summary>
    public async Task<EndToEndResult> CheckEndToEndAsync(Endpoint bind, Endpoint target, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var (connects, failures) = (Relay.UpstreamConnects, Relay.UpstreamFailures);
        using var timer = new CancellationTokenSource(timeout, _time);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timer.Token);
        var channel = _channels.Create();
        try
        {
            try
            {
                await channel.OpenAsync(ReachableHost(bind), bind.Port, "127.0.0.1", 0, cts.Token).ConfigureAwait(false);
            }
            catch (ChannelOpenRefusedException e)
            {
                return new(EndToEndOutcome.NoAnswerThroughServer, $"the server cannot connect to its own {bind}: {e.Message}");
            }
            Interlocked.Increment(ref _checks);
            if (!await channel.SendAsync(_probeToken, 0, _probeToken.Length).ConfigureAwait(false))
            {
                return new(EndToEndOutcome.NoAnswerThroughServer, $"the check's connection to {bind} on the server closed at once");
            }
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
        finally
        {
            channel.Close();
        }
    }

    /// <summary>
    /// Closes the relay (and every connection, so every channel of this forward), then for -R asks the server to stop
    /// listening (bounded, and at once when the session is gone). The session's channels stay for its other tunnels.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        if (_relay is { } relay)
        {
            await relay.DisposeAsync().ConfigureAwait(false);
        }
        if (_remote is { } remote)
        {
            await _requests.CancelForwardAsync(remote.Address, remote.Port, remote.Accept, StopWait).ConfigureAwait(false);
        }
    }
}
