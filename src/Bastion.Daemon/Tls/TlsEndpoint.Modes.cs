// CA1873: these log calls run once per connection or state change, never in the relay loop; the cost is irrelevant.
#pragma warning disable CA1873

using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Bastion.Config;
using Bastion.Supervision;
using Bastion.Tls;

namespace Bastion.Daemon.Tls;

// The two ways a connection starts: accepted (listen) or dialled (phones home).
public sealed partial class TlsEndpoint
{
    private async Task ListenAsync(IComponentContext context, PeerValidator validator, CancellationToken cancellationToken)
    {
        using var listener = Bind();
        var bound = (IPEndPoint)listener.LocalEndPoint!;
        _boundAddress = bound.ToString();
        context.SetDetail("address", _boundAddress);
        context.SetDetail("boundPort", bound.Port.ToString(CultureInfo.InvariantCulture));
        Count(context);
        TlsLog.Listening(logger, Name, _boundAddress, definition.Backend.ToString());
        UpdateHealth(context);
        AnnounceBound(_boundAddress);

        var connections = new RunningTasks();
        try
        {
            while (true)
            {
                var socket = await listener.AcceptAsync(cancellationToken).ConfigureAwait(false);
                socket.NoDelay = true;
                connections.Run(() => ServeGuardedAsync(socket, context, validator, cancellationToken));
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
        finally
        {
            listener.Dispose();
            await connections.WhenAllAsync().ConfigureAwait(false);
        }
    }

    private Socket Bind()
    {
        var host = _config.Address.Host;
        IPAddress address;
        if (host is "*" or "")
        {
            address = IPAddress.IPv6Any;
        }
        else if (!IPAddress.TryParse(host, out address!))
        {
            address = Dns.GetHostAddresses(host).FirstOrDefault()
                ?? throw new ComponentFailureException($"cannot resolve {host} to listen on — use an IP address in address:");
        }
        var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (address.Equals(IPAddress.IPv6Any))
            {
                socket.DualMode = true;
            }
            socket.Bind(new IPEndPoint(address, _config.Address.Port));
            socket.Listen(128);
            return socket;
        }
        catch (SocketException e)
        {
            socket.Dispose();
            throw new ComponentFailureException(e.SocketErrorCode == SocketError.AddressAlreadyInUse
                ? $"cannot listen on {_config.Address}: the address is already in use — stop what holds it (ss -ltnp 'sport = :{_config.Address.Port}') or pick another port"
                : $"cannot listen on {_config.Address}: {e.Message}");
        }
    }

    /// <summary>
    /// TCP keepalive of a dialled connection: a listener whose host froze or whose network went away is detected within
    /// about <see cref="KeepaliveIdle"/> + <see cref="KeepaliveCount"/> × <see cref="KeepaliveInterval"/> of silence
    /// (30 s), and <see cref="UserTimeout"/> bounds the same when our data stays unacknowledged (keepalive does not probe then).
    /// A frozen listener process whose kernel still answers is the relay's idle limit's job (tls[].idleTimeout).
    /// </summary>
    internal static readonly TimeSpan KeepaliveIdle = TimeSpan.FromSeconds(15);

    internal static readonly TimeSpan KeepaliveInterval = TimeSpan.FromSeconds(5);
    internal const int KeepaliveCount = 3;
    internal static readonly TimeSpan UserTimeout = TimeSpan.FromSeconds(30);

    private const int IpprotoTcp = 6;
    private const int TcpUserTimeoutOption = 18; // TCP_USER_TIMEOUT (linux/tcp.h)

    private volatile DialState? _dial;

    /// <summary>
    /// Phones home: connects to the admin's listener every interval, and keeps doing so while sessions are open (one
    /// frozen or forgotten session must not stop all phoning home), up to tls[].maxSessions connections at once. Nobody
    /// listening is the normal state: Running, with the reason saying since when and how many attempts.
    /// </summary>
    private async Task DialAsync(IComponentContext context, PeerValidator validator, CancellationToken cancellationToken)
    {
        var target = _config.Address.ToString();
        context.SetDetail("address", target);
        var live = _live;
        var dial = new DialState(target, live.Interval, live.MaxSessions, context.Time);
        _dial = dial;
        dial.Reconfigure(_live.Interval, _live.MaxSessions); // a reload between reading _live and publishing _dial is not lost
        Count(context);
        UpdateHealth(context);
        var sessions = new RunningTasks();
        try
        {
            while (true)
            {
                if (dial.TryBeginAttempt())
                {
                    var socket = await ConnectAsync(dial, target, context.Time, cancellationToken).ConfigureAwait(false);
                    if (socket is not null)
                    {
                        sessions.Run(() => DialledSessionAsync(socket, dial, context, validator, cancellationToken));
                    }
                }
                UpdateHealth(context);
                // A reload of the live settings wakes this wait: one dial now, then the new interval.
                var changed = Volatile.Read(ref _liveChanged).Task;
                await Task.WhenAny(Task.Delay(dial.Interval, context.Time, cancellationToken), changed).ConfigureAwait(false);
                cancellationToken.ThrowIfCancellationRequested();
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
        finally
        {
            await sessions.WhenAllAsync().ConfigureAwait(false);
        }
    }

    /// <summary>One dial: the connected socket (keepalive set), or null with the outcome recorded in <paramref name="dial"/>.</summary>
    private async Task<Socket?> ConnectAsync(DialState dial, string target, TimeProvider time, CancellationToken cancellationToken)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.KeepAlive, true);
            socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveTime, (int)KeepaliveIdle.TotalSeconds);
            socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveInterval, (int)KeepaliveInterval.TotalSeconds);
            socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveRetryCount, KeepaliveCount);
            socket.SetRawSocketOption(IpprotoTcp, TcpUserTimeoutOption, BitConverter.GetBytes((int)UserTimeout.TotalMilliseconds));
            using var timeout = new Deadline(TlsPolicy.HandshakeTimeout, time, cancellationToken);
            await socket.ConnectAsync(_config.Address.Host, _config.Address.Port, timeout.Token).ConfigureAwait(false);
            return socket;
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            socket.Dispose();
            var outcome = e switch
            {
                SocketException { SocketErrorCode: SocketError.ConnectionRefused } => DialOutcome.NoListener,
                OperationCanceledException or SocketException { SocketErrorCode: SocketError.TimedOut } => DialOutcome.NoAnswer,
                _ => DialOutcome.Unreachable,
            };
            var error = BackendConnector.Describe(e, definition.Backend);
            if (dial.Record(outcome, error))
            {
                // The first failure of a kind, not every attempt: nobody listening can last for months.
                TlsLog.DialFailed(logger, Name, target, error, Durations.Format(_live.Interval));
            }
            return null;
        }
        catch
        {
            dial.Record(DialOutcome.Unreachable, "stopped");
            socket.Dispose(); // stopping (or anything unforeseen): the half-open socket is ours to close
            throw;
        }
    }

    /// <summary>One dialled connection, from the handshake to the end of its relay; it holds one of maxSessions slots.</summary>
    private async Task DialledSessionAsync(Socket socket, DialState dial, IComponentContext context, PeerValidator validator, CancellationToken cancellationToken)
    {
        var report = new DialReport(dial, this);
        try
        {
            await ServeGuardedAsync(socket, context, validator, cancellationToken, report).ConfigureAwait(false);
        }
        finally
        {
            report.End();
            UpdateHealth(context);
        }
    }

    /// <summary>
    /// What <see cref="ServeAsync"/> tells the dial state about one dialled connection: opened (a valid certificate), or
    /// refused and why; <see cref="End"/> frees the slot.
    /// </summary>
    private sealed class DialReport(DialState dial, TlsEndpoint endpoint)
    {
        private bool _recorded;
        private bool _opened;

        public void Opened()
        {
            if (!_recorded)
            {
                _recorded = _opened = true;
                if (dial.Record(DialOutcome.SessionOpened))
                {
                    TlsLog.DialConnected(endpoint.Logger, endpoint.Name, endpoint._config.Address.ToString());
                }
            }
        }

        public void Refused(HandshakeFailure kind, string reason)
        {
            if (!_recorded)
            {
                _recorded = true;
                dial.Record(kind == HandshakeFailure.Silent ? DialOutcome.ListenerSilent : DialOutcome.ListenerRefused, reason);
            }
        }

        public void End()
        {
            if (_opened)
            {
                dial.SessionClosed();
            }
            else if (!_recorded)
            {
                _recorded = true;
                dial.Record(DialOutcome.ListenerRefused, "the connection ended before the handshake");
            }
        }
    }

    /// <summary>Connections or sessions being served: each runs on the thread pool and leaves the set when it ends.</summary>
    private sealed class RunningTasks
    {
        private readonly Lock _gate = new();
        private readonly HashSet<Task> _tasks = [];

        public void Run(Func<Task> work)
        {
            var task = Task.Run(work, CancellationToken.None);
            lock (_gate)
            {
                _tasks.Add(task);
            }
            _ = task.ContinueWith(t =>
            {
                lock (_gate)
                {
                    _tasks.Remove(t);
                }
            }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }

        /// <summary>Waits for every task still running.</summary>
        public Task WhenAllAsync()
        {
            Task[] pending;
            lock (_gate)
            {
                pending = [.. _tasks];
            }
            return Task.WhenAll(pending);
        }
    }
}
