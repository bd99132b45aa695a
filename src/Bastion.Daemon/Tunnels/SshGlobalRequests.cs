using System.Runtime.CompilerServices;
using Renci.SshNet;
using Renci.SshNet.Common;
using Renci.SshNet.Messages;
using Renci.SshNet.Messages.Connection;

namespace Bastion.Daemon.Tunnels;

/// <summary>How the server answered a <c>tcpip-forward</c> request.</summary>
internal enum ForwardOutcome { Granted, Refused, Unanswered }

/// <summary>A <c>forwarded-tcpip</c> channel the server opens for a remote forward (RFC 4254 section 7.2), not yet answered.</summary>
internal sealed record ForwardedChannelOpen(uint RemoteNumber, uint RemoteWindow, uint RemotePacket, string OriginatorAddress, uint OriginatorPort);

/// <summary>
/// The global requests of one SSH session, and the channels the server opens in answer to them:
/// <list type="bullet">
/// <item>the liveness probe (<c>keepalive@openssh.com</c> with want-reply, what OpenSSH's ServerAliveInterval sends:
/// sshd answers it itself with REQUEST_FAILURE, starts no process and logs nothing at its default LogLevel);</item>
/// <item>the -R forwards' <c>tcpip-forward</c> / <c>cancel-tcpip-forward</c>, and the <c>forwarded-tcpip</c> channels
/// the server then opens, handed to the forward whose bind they name; any other channel the server opens is refused.</item>
/// </list>
/// A reply names no request: replies come in the order of the requests (RFC 4254 section 4). Every global request on
/// the session is sent here, one at a time: the next only when the previous one's reply came, so a reply always
/// answers the one request in flight. A request without its reply keeps the line busy until the reply comes or the
/// session ends: a probe then reads as unanswered, a forward as unanswered (and cancelled if granted late).
/// Nothing blocks a thread: a send that blocks on a frozen peer's full socket runs off the caller's thread, and at
/// most one such send exists.
/// </summary>
/// <remarks>
/// SSH.NET 2026.0.0 has no public way to send a global request or to see a forwarded channel's addresses: the session
/// object is public, its reply and channel-open events and message registration are public, its <c>SendMessage</c>
/// (<see cref="SshNetInternals"/>), the request messages' constructors and the forwarded-tcpip open's fields are
/// internal and reached with
/// <see cref="UnsafeAccessorAttribute"/> (no reflection, AOT clean; a rename in a later SSH.NET throws
/// <see cref="MissingMethodException"/> at the first use, never silently).
/// </remarks>
internal sealed class SshGlobalRequests : IDisposable
{
    private const string ForwardedTcpip = "forwarded-tcpip";
    private const string InfoType = "Renci.SshNet.Messages.Connection.ForwardedTcpipChannelInfo, Renci.SshNet";
    private static readonly byte[] KeepaliveName = "keepalive@openssh.com"u8.ToArray();

    private readonly Session _session;
    private readonly TimeProvider _time;
    private readonly Lock _lock = new();
    private readonly Dictionary<(string Address, uint Port), Action<ForwardedChannelOpen>> _forwards = [];
    private readonly EventHandler<MessageEventArgs<RequestSuccessMessage>> _onSuccess;
    private readonly EventHandler<MessageEventArgs<RequestFailureMessage>> _onFailure;
    private readonly EventHandler<MessageEventArgs<ChannelOpenMessage>> _onChannelOpen;
    private TaskCompletionSource<bool>? _inFlight;
    private bool _disposed;
    private TaskCompletionSource _idle = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private SshGlobalRequests(Session session, TimeProvider time)
    {
        _session = session;
        _time = time;
        _onSuccess = (_, _) => Answered(success: true);
        _onFailure = (_, _) => Answered(success: false);
        _onChannelOpen = (_, e) => OnChannelOpen(e.Message);
    }

    /// <summary>Watches the replies and channel opens of <paramref name="client"/>'s session (connected).</summary>
    /// <exception cref="SshConnectionException">the client has no session (not connected).</exception>
    /// <exception cref="MissingMethodException">SSH.NET no longer has the internals this relies on.</exception>
    public static SshGlobalRequests Attach(SshClient client, TimeProvider time)
    {
        var session = SshNetInternals.SessionOf(client);
        _ = (Message)NewCancelForward(string.Empty, 0); // the first use checks the accessors' targets exist (nothing is sent)
        var requests = new SshGlobalRequests(session, time);
        // SSH.NET accepts a message only once it is registered; a reply to a probe, or a channel the server opens,
        // would otherwise end the session ("message type 82 is not valid").
        session.RegisterMessage("SSH_MSG_REQUEST_SUCCESS");
        session.RegisterMessage("SSH_MSG_REQUEST_FAILURE");
        session.RegisterMessage("SSH_MSG_CHANNEL_OPEN");
        session.RequestSuccessReceived += requests._onSuccess;
        session.RequestFailureReceived += requests._onFailure;
        session.ChannelOpenReceived += requests._onChannelOpen;
        return requests;
    }

    /// <summary>
    /// Sends <c>keepalive@openssh.com</c> with want-reply and waits for the server's reply. True when it came within
    /// <paramref name="timeout"/>; false when not (or when an earlier request's reply had not come within it).
    /// </summary>
    /// <exception cref="SshConnectionException">the session is gone.</exception>
    public async Task<bool> KeepaliveAsync(TimeSpan timeout, CancellationToken cancellationToken) =>
        await RequestAsync(() => NewGlobalRequest(KeepaliveName, wantReply: true), timeout, cancellationToken).ConfigureAwait(false) is not null;

    /// <summary>
    /// Asks the server to listen on <paramref name="address"/>:<paramref name="port"/> (<c>tcpip-forward</c>) and hands
    /// every channel it then opens for that bind to <paramref name="accept"/> (on SSH.NET's receive thread: it must not
    /// block) until <see cref="CancelForwardAsync"/>. A grant that comes after <paramref name="timeout"/> is cancelled.
    /// </summary>
    /// <exception cref="SshConnectionException">the session is gone.</exception>
    public async Task<ForwardOutcome> ForwardAsync(string address, uint port, Action<ForwardedChannelOpen> accept, TimeSpan timeout,
        CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            // Before the request: the server may open the first channel right after its reply, before we see the reply.
            _forwards[(address, port)] = accept;
        }
        bool? granted;
        Task<bool>? late = null;
        try
        {
            granted = await RequestAsync(() => (Message)NewForward(address, port), timeout, cancellationToken, r => late = r).ConfigureAwait(false);
        }
        catch
        {
            Unregister(address, port, accept);
            throw;
        }
        if (granted == true)
        {
            return ForwardOutcome.Granted;
        }
        Unregister(address, port, accept);
        if (granted is null && late is not null)
        {
            _ = CancelIfGrantedLateAsync(late, address, port, timeout);
        }
        return granted is null ? ForwardOutcome.Unanswered : ForwardOutcome.Refused;
    }

    /// <summary>A grant that comes after we gave up is cancelled: the server would hold the port for nothing (and refuse our next try as busy).</summary>
    private async Task CancelIfGrantedLateAsync(Task<bool> reply, string address, uint port, TimeSpan timeout)
    {
        try
        {
            if (!await reply.ConfigureAwait(false))
            {
                return;
            }
        }
        catch (SshConnectionException)
        {
            return; // the session ended: so did the forward
        }
        await SendCancelAsync(address, port, timeout).ConfigureAwait(false);
    }

    /// <summary>
    /// Stops handing channels for the bind to <paramref name="accept"/> at once (the server's later opens are refused)
    /// and asks the server to stop listening (<c>cancel-tcpip-forward</c>), waiting at most <paramref name="timeout"/>
    /// for its reply. Nothing is sent when the bind is no longer <paramref name="accept"/>'s. Never throws: a session
    /// that is gone has no forward left to cancel.
    /// </summary>
    public async Task CancelForwardAsync(string address, uint port, Action<ForwardedChannelOpen> accept, TimeSpan timeout)
    {
        if (Unregister(address, port, accept))
        {
            await SendCancelAsync(address, port, timeout).ConfigureAwait(false);
        }
    }

    private async Task SendCancelAsync(string address, uint port, TimeSpan timeout)
    {
        try
        {
            await RequestAsync(() => (Message)NewCancelForward(address, port), timeout, CancellationToken.None).ConfigureAwait(false);
        }
        catch (SshConnectionException)
        {
        }
    }

    private bool Unregister(string address, uint port, Action<ForwardedChannelOpen> accept)
    {
        lock (_lock)
        {
            return _forwards.TryGetValue((address, port), out var current) && current == accept && _forwards.Remove((address, port));
        }
    }

    /// <summary>
    /// Sends one global request with want-reply once no other reply is awaited, and waits for its reply within
    /// <paramref name="timeout"/> (the wait for the line counts). True: SUCCESS; false: FAILURE; null: no reply in
    /// time (the request stays in flight; <paramref name="inFlight"/> gets its reply's task).
    /// </summary>
    /// <exception cref="SshConnectionException">the session is gone (or the request could not be sent).</exception>
    private async Task<bool?> RequestAsync(Func<Message> message, TimeSpan timeout, CancellationToken cancellationToken,
        Action<Task<bool>>? inFlight = null)
    {
        using var timer = new CancellationTokenSource(timeout, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(timer.Token, cancellationToken);
        TaskCompletionSource<bool> reply;
        try
        {
            while (true)
            {
                Task idle;
                lock (_lock)
                {
                    if (_disposed)
                    {
                        throw new SshConnectionException("the SSH session is gone");
                    }
                    if (_inFlight is null)
                    {
                        reply = _inFlight = new(TaskCreationOptions.RunContinuationsAsynchronously);
                        break;
                    }
                    idle = _idle.Task;
                }
                await idle.WaitAsync(linked.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (timer.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            return null;
        }
        inFlight?.Invoke(reply.Task);
        // Sent off this thread: on a frozen peer with full socket buffers SSH.NET's send blocks, and the timeout must
        // still run. At most one such send exists: the line stays busy until its reply.
        var send = Task.Run(() => Send(message(), reply), CancellationToken.None);
        try
        {
            await Task.WhenAny(reply.Task, send).WaitAsync(linked.Token).ConfigureAwait(false);
            if (send.IsCompleted && !send.Result)
            {
                throw new SshConnectionException("the request could not be sent: the SSH session is gone");
            }
            return await reply.Task.WaitAsync(linked.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (timer.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            return null;
        }
    }

    private bool Send(Message message, TaskCompletionSource<bool> reply)
    {
        if (SshNetInternals.TrySend(_session, message))
        {
            return true;
        }
        // Not sent (the session is gone or closing): no reply will come for it; the line is free again.
        TaskCompletionSource idle;
        lock (_lock)
        {
            if (_inFlight != reply)
            {
                return false;
            }
            _inFlight = null;
            idle = SwapIdle();
        }
        reply.TrySetException(new SshConnectionException("the SSH session is gone"));
        idle.TrySetResult();
        return false;
    }

    /// <summary>A reply came (on SSH.NET's receive thread): it answers the one request in flight.</summary>
    private void Answered(bool success)
    {
        TaskCompletionSource<bool>? reply;
        TaskCompletionSource idle;
        lock (_lock)
        {
            reply = _inFlight;
            if (reply is null)
            {
                return; // a reply to nothing we asked: a confused server
            }
            _inFlight = null;
            idle = SwapIdle();
        }
        reply.TrySetResult(success);
        idle.TrySetResult();
    }

    /// <summary>
    /// The server opens a channel (on SSH.NET's receive thread: never block). A <c>forwarded-tcpip</c> channel for a
    /// bind we asked for goes to its forward (by address and port, or by port alone when one forward has it: the
    /// server may name the address differently than we did); anything else is refused at once, so no channel the
    /// server opens is left waiting for an answer.
    /// </summary>
    private void OnChannelOpen(ChannelOpenMessage message)
    {
        if (message.Info.ChannelType == ForwardedTcpip)
        {
            var info = message.Info;
            var (address, port) = (ConnectedAddress(info), ConnectedPort(info));
            Action<ForwardedChannelOpen>? accept = null;
            lock (_lock)
            {
                if (!_forwards.TryGetValue((address, port), out accept))
                {
                    var onPort = _forwards.Where(f => f.Key.Port == port).Take(2).ToArray();
                    accept = onPort.Length == 1 ? onPort[0].Value : null;
                }
            }
            if (accept is not null)
            {
                accept(new ForwardedChannelOpen(message.LocalChannelNumber, message.InitialWindowSize, message.MaximumPacketSize,
                    OriginatorAddress(info), OriginatorPort(info)));
                return;
            }
            TryRefuse(message.LocalChannelNumber, TcpipChannel.AdministrativelyProhibited, "no such forward");
            return;
        }
        TryRefuse(message.LocalChannelNumber, TcpipChannel.UnknownChannelType, "not accepted");
    }

    /// <summary>Refuses a channel the server opened; when the session is going down, the channel goes with it.</summary>
    private void TryRefuse(uint remoteNumber, uint reasonCode, string description) =>
        _ = SshNetInternals.TrySend(_session, new ChannelOpenFailureMessage(remoteNumber, description, reasonCode));

    private TaskCompletionSource SwapIdle()
    {
        var old = _idle;
        _idle = new(TaskCreationOptions.RunContinuationsAsynchronously);
        return old;
    }

    public void Dispose()
    {
        TaskCompletionSource<bool>? reply;
        TaskCompletionSource idle;
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }
            _disposed = true;
            reply = _inFlight;
            _inFlight = null;
            _forwards.Clear();
            idle = SwapIdle();
        }
        _session.RequestSuccessReceived -= _onSuccess;
        _session.RequestFailureReceived -= _onFailure;
        _session.ChannelOpenReceived -= _onChannelOpen;
        reply?.TrySetException(new SshConnectionException("the SSH session is gone"));
        idle.TrySetResult();
    }

    [UnsafeAccessor(UnsafeAccessorKind.Constructor)]
    private static extern GlobalRequestMessage NewGlobalRequest(byte[] requestName, bool wantReply);

    [UnsafeAccessor(UnsafeAccessorKind.Constructor)]
    [return: UnsafeAccessorType("Renci.SshNet.Messages.Connection.TcpIpForwardGlobalRequestMessage, Renci.SshNet")]
    private static extern object NewForward(string addressToBind, uint portToBind);

    [UnsafeAccessor(UnsafeAccessorKind.Constructor)]
    [return: UnsafeAccessorType("Renci.SshNet.Messages.Connection.CancelTcpIpForwardGlobalRequestMessage, Renci.SshNet")]
    private static extern object NewCancelForward(string addressToBind, uint portToBind);

    [UnsafeAccessor(UnsafeAccessorKind.Method, Name = "get_ConnectedAddress")]
    private static extern string ConnectedAddress([UnsafeAccessorType(InfoType)] object info);

    [UnsafeAccessor(UnsafeAccessorKind.Method, Name = "get_ConnectedPort")]
    private static extern uint ConnectedPort([UnsafeAccessorType(InfoType)] object info);

    [UnsafeAccessor(UnsafeAccessorKind.Method, Name = "get_OriginatorAddress")]
    private static extern string OriginatorAddress([UnsafeAccessorType(InfoType)] object info);

    [UnsafeAccessor(UnsafeAccessorKind.Method, Name = "get_OriginatorPort")]
    private static extern uint OriginatorPort([UnsafeAccessorType(InfoType)] object info);
}
