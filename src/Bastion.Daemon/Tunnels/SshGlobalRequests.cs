using System.Runtime.CompilerServices;
using Renci.SshNet;
using Renci.SshNet.Common;
using Renci.SshNet.Messages;
using Renci.SshNet.Messages.Connection;

namespace Bastion.Daemon.Tunnels;

/// <summary>
/// The global requests of one SSH session: the liveness probe (<c>keepalive@openssh.com</c> with want-reply, what
/// OpenSSH's ServerAliveInterval sends: sshd answers it itself with REQUEST_FAILURE, starts no process and logs
/// nothing at its default LogLevel) and the -R forwards' <c>tcpip-forward</c> / <c>cancel-tcpip-forward</c>.
/// A reply names no request: replies come in the order of the requests (RFC 4254 section 4), and SSH.NET's remote
/// forward takes the first reply after it asked as its own. So one request is in flight at a time: a forward is
/// asked only when every earlier reply has come (a late probe answer would otherwise read as the forward's refusal),
/// and a probe is sent only when no forward's reply is awaited. A request without its reply keeps the line busy
/// until the reply comes or the session ends: a probe then reads as unanswered, a forward start as timed out.
/// </summary>
/// <remarks>
/// SSH.NET 2026.0.0 has no public way to send a global request: the session object is public, its reply events and
/// message registration are public, its <c>SendMessage</c> and the request message's constructor are internal and
/// reached with <see cref="UnsafeAccessorAttribute"/> (no reflection; checked at the first use, see
/// <see cref="Attach"/>).
/// </remarks>
internal sealed class SshGlobalRequests : IDisposable
{
    private static readonly byte[] KeepaliveName = "keepalive@openssh.com"u8.ToArray();

    private readonly Session _session;
    private readonly TimeProvider _time;
    private readonly Lock _lock = new();
    private readonly EventHandler<MessageEventArgs<RequestSuccessMessage>> _onSuccess;
    private readonly EventHandler<MessageEventArgs<RequestFailureMessage>> _onFailure;
    private long _sent;
    private long _answered;
    private bool _forwardRunning;
    private bool _disposed;
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private SshGlobalRequests(Session session, TimeProvider time)
    {
        _session = session;
        _time = time;
        _onSuccess = (_, _) => Answered();
        _onFailure = (_, _) => Answered();
    }

    /// <summary>Requests sent whose reply has not come yet (0 or 1).</summary>
    public long Outstanding
    {
        get { lock (_lock) { return _sent - _answered; } }
    }

    /// <summary>Watches the replies of <paramref name="client"/>'s session (connected). Before any forward is added.</summary>
    /// <exception cref="SshConnectionException">the client has no session (not connected).</exception>
    public static SshGlobalRequests Attach(SshClient client, TimeProvider time)
    {
        if (SessionOf(client) is not Session session)
        {
            throw new SshConnectionException("the client has no session");
        }
        var requests = new SshGlobalRequests(session, time);
        // SSH.NET accepts a message only once it is registered; a reply to a probe before any -R forward would
        // otherwise end the session ("message type 82 is not valid").
        session.RegisterMessage("SSH_MSG_REQUEST_SUCCESS");
        session.RegisterMessage("SSH_MSG_REQUEST_FAILURE");
        session.RequestSuccessReceived += requests._onSuccess;
        session.RequestFailureReceived += requests._onFailure;
        return requests;
    }

    /// <summary>
    /// Sends <c>keepalive@openssh.com</c> with want-reply and waits for the server's reply. True when it came within
    /// <paramref name="timeout"/>; false when not (or when an earlier request's reply had not come within it).
    /// </summary>
    /// <exception cref="SshConnectionException">the session is gone.</exception>
    public async Task<bool> KeepaliveAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var timer = new CancellationTokenSource(timeout, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(timer.Token, cancellationToken);
        try
        {
            long ticket;
            while (true)
            {
                Task changed;
                lock (_lock)
                {
                    ObjectDisposedException.ThrowIf(_disposed, this);
                    if (!_forwardRunning && _answered == _sent)
                    {
                        ticket = ++_sent;
                        break;
                    }
                    changed = _changed.Task;
                }
                await changed.WaitAsync(linked.Token).ConfigureAwait(false);
            }
            // Sent off this thread: on a frozen peer with full socket buffers SSH.NET's send blocks, and the probe's
            // timeout must still run. At most one such send exists: the line stays busy until its reply.
            var send = Task.Run(() => Send(ticket), CancellationToken.None);
            while (true)
            {
                Task changed;
                lock (_lock)
                {
                    if (_answered >= ticket)
                    {
                        return true;
                    }
                    changed = _changed.Task;
                }
                if (send.IsCompleted)
                {
                    if (!send.Result)
                    {
                        throw new SshConnectionException("the keepalive could not be sent: the session is gone");
                    }
                    await changed.WaitAsync(linked.Token).ConfigureAwait(false); // sent: only a reply (or the timeout) ends the wait
                }
                else
                {
                    await Task.WhenAny(changed, send).WaitAsync(linked.Token).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException) when (timer.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            return false;
        }
    }

    private bool Send(long ticket)
    {
        try
        {
            SendMessage(_session, NewGlobalRequest(KeepaliveName, wantReply: true));
            return true;
        }
#pragma warning disable CA1031 // whatever SSH.NET throws here, the request did not go out
        catch (Exception)
#pragma warning restore CA1031
        {
            // Not sent (the session is gone or closing): no reply will come for it.
            Unsend(ticket);
            return false;
        }
    }

    /// <summary>
    /// Runs <paramref name="request"/> (SSH.NET's blocking start or stop of a remote forward, which sends one global
    /// request and takes the next reply as its answer) once no other reply is awaited, and keeps probes from being
    /// sent until it returned. <paramref name="sends"/>: whether it sends a request (a stop of a forward that never
    /// started sends none).
    /// </summary>
    /// <exception cref="SshOperationTimeoutException">an earlier reply did not come within <paramref name="wait"/>.</exception>
    public void RunForwardRequest(Action request, bool sends, TimeSpan wait)
    {
        var started = _time.GetTimestamp();
        long ticket;
        while (true)
        {
            Task changed;
            lock (_lock)
            {
                if (_disposed || (!_forwardRunning && _answered == _sent))
                {
                    _forwardRunning = true;
                    ticket = sends ? ++_sent : _sent;
                    break;
                }
                changed = _changed.Task;
            }
            var left = wait - _time.GetElapsedTime(started);
            try
            {
                // Blocking, like the SSH.NET call it guards (this runs on the caller's thread either way).
                changed.WaitAsync(left > TimeSpan.Zero ? left : TimeSpan.Zero, _time).GetAwaiter().GetResult();
            }
            catch (TimeoutException)
            {
                throw new SshOperationTimeoutException(
                    $"the server has not answered an earlier request within {Bastion.Config.Durations.Format(wait)}");
            }
        }
        try
        {
            request();
        }
        catch (Exception e) when (e is InvalidOperationException or ObjectDisposedException or SshConnectionException)
        {
            // Refused by SSH.NET before anything was sent (the port is not added, already disposed, or the session is
            // gone: then nothing is counted any more anyway).
            if (sends)
            {
                Unsend(ticket);
            }
            throw;
        }
        finally
        {
            TaskCompletionSource changed;
            lock (_lock)
            {
                _forwardRunning = false;
                changed = SwapChanged();
            }
            changed.TrySetResult();
        }
    }

    private void Unsend(long ticket)
    {
        TaskCompletionSource changed;
        lock (_lock)
        {
            if (_sent != ticket || _answered >= ticket)
            {
                return;
            }
            _sent--;
            changed = SwapChanged();
        }
        changed.TrySetResult();
    }

    /// <summary>A reply came (on SSH.NET's receive thread): it answers the oldest request still waiting.</summary>
    private void Answered()
    {
        TaskCompletionSource changed;
        lock (_lock)
        {
            if (_answered >= _sent)
            {
                return; // a reply to a request that is not ours to count (none is sent outside this class)
            }
            _answered++;
            changed = SwapChanged();
        }
        changed.TrySetResult();
    }

    private TaskCompletionSource SwapChanged()
    {
        var old = _changed;
        _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
        return old;
    }

    public void Dispose()
    {
        TaskCompletionSource changed;
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }
            _disposed = true;
            changed = SwapChanged();
        }
        _session.RequestSuccessReceived -= _onSuccess;
        _session.RequestFailureReceived -= _onFailure;
        changed.TrySetResult();
    }

    [UnsafeAccessor(UnsafeAccessorKind.Method, Name = "get_Session")]
    [return: UnsafeAccessorType("Renci.SshNet.ISession, Renci.SshNet")]
    private static extern object? SessionOf(BaseClient client);

    [UnsafeAccessor(UnsafeAccessorKind.Method, Name = "SendMessage")]
    private static extern void SendMessage(Session session, Message message);

    [UnsafeAccessor(UnsafeAccessorKind.Constructor)]
    private static extern GlobalRequestMessage NewGlobalRequest(byte[] requestName, bool wantReply);
}
