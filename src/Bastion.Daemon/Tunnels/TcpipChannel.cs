using System.Buffers;
using Renci.SshNet.Common;
using Renci.SshNet.Messages.Connection;

namespace Bastion.Daemon.Tunnels;

/// <summary>The server refused to open a channel (its reason code and text, RFC 4254 section 5.1).</summary>
internal sealed class ChannelOpenRefusedException(uint reasonCode, string description)
    : Exception($"the server refused the channel ({reasonCode}: {description})")
{
    /// <summary>RFC 4254: 1 administratively prohibited, 2 connect failed, 3 unknown channel type, 4 resource shortage.</summary>
    public uint ReasonCode { get; } = reasonCode;
}

/// <summary>
/// One TCP channel driven without a thread: a <c>direct-tcpip</c> channel we open (-L, -D, the -R checks) or a
/// <c>forwarded-tcpip</c> channel the server opens (-R) and we accept (<see cref="TcpipChannels.Accept"/>, then
/// <see cref="Confirm"/> once the local target took the connection, else <see cref="Refuse"/>). One reader (<see cref="ReceiveAsync"/>, then
/// <see cref="Consumed"/>) and one writer (<see cref="SendAsync"/>, then <see cref="SendEof"/>). Flow control both
/// ways: data is sent only within the server's window (waiting asynchronously for its adjust), and our window is
/// re-opened only for bytes the reader has passed on, so a client that stops reading holds at most one window
/// (<see cref="LocalWindow"/>) here and the server stops sending. EOF each way is independent of the other direction
/// (half-close); a CLOSE from the server, our <see cref="Close"/> or the session's end finish the channel.
/// </summary>
internal sealed class TcpipChannel : IRelayEnd
{
    /// <summary>As OpenSSH's client for TCP forwards: 2 MiB window (at most: see <see cref="TcpipChannels.WindowBudget"/>), 32 KiB packets, window re-opened at half.</summary>
    public const uint LocalWindow = 2 * 1024 * 1024;
    public const uint LocalPacket = 32 * 1024;

    /// <summary>RFC 4254 section 5.1 reason codes for refusing a channel.</summary>
    public const uint AdministrativelyProhibited = 1, ConnectFailed = 2, UnknownChannelType = 3, ResourceShortage = 4;

    private readonly TcpipChannels _owner;
    private readonly Lock _lock = new();
    private readonly TaskCompletionSource<ChannelOpenFailureMessage?> _opened = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Queue<(byte[] Buffer, int Length)> _received = new();
    private uint _remoteNumber, _remotePacket;
    private long _remoteWindow, _localWindowLeft, _consumed;
    private TaskCompletionSource? _receiveWaiter, _windowWaiter;
    private bool _accepting, _open, _openFailed, _sending, _closePending, _closeWanted, _eofReceived, _eofDelivered, _closeReceived, _closeSent, _lost;

    internal TcpipChannel(TcpipChannels owner, uint localNumber, uint window)
    {
        _owner = owner;
        LocalNumber = localNumber;
        Window = window;
        _localWindowLeft = window;
    }

    /// <summary>A channel the server opened (-R) and waits for us to confirm or refuse.</summary>
    internal TcpipChannel(TcpipChannels owner, uint localNumber, uint window, uint remoteNumber, uint remoteWindow, uint remotePacket)
        : this(owner, localNumber, window)
    {
        _accepting = true;
        _remoteNumber = remoteNumber;
        _remoteWindow = remoteWindow;
        _remotePacket = Math.Max(1, Math.Min(remotePacket, LocalPacket));
    }

    public uint LocalNumber { get; }

    public bool ReportsCloseAfterEof => true;

    /// <summary>
    /// Accepts a channel the server opened (<see cref="TcpipChannels.Accept"/>): from now on data flows. False when it
    /// was closed meanwhile (the server was told no) or the session is gone.
    /// </summary>
    public bool Confirm()
    {
        uint remote;
        var confirm = false;
        lock (_lock)
        {
            if (!_accepting)
            {
                return false; // refused already (closed meanwhile)
            }
            remote = _remoteNumber;
            if (!_closeReceived && !_lost)
            {
                confirm = true;
                _accepting = false;
                _open = true; // before the server can answer: its first data may arrive before TrySend returns
                _sending = true; // a Close meanwhile waits until the confirmation went out (never a CLOSE before it)
            }
        }
        if (!confirm)
        {
            Refuse(AdministrativelyProhibited, "closed");
            return false;
        }
        if (!SendGuarded(new ChannelOpenConfirmationMessage(remote, Window, LocalPacket, LocalNumber)))
        {
            return false;
        }
        lock (_lock)
        {
            return !_closeWanted;
        }
    }

    /// <summary>
    /// Sends a message that <see cref="_sending"/> guards (set by the caller under the lock, so a CLOSE waits for it),
    /// then sends the CLOSE that waited, if one did. False when the session is gone.
    /// </summary>
    private bool SendGuarded(Renci.SshNet.Messages.Message message)
    {
        var sent = _owner.TrySend(message);
        bool closeNow;
        lock (_lock)
        {
            _sending = false;
            closeNow = _closePending;
        }
        if (closeNow)
        {
            SendClose();
        }
        if (!sent)
        {
            OnSessionLost();
        }
        return sent;
    }

    /// <summary>Refuses a channel the server opened (RFC 4254 reason code, e.g. 2 connect failed, 4 resource shortage).</summary>
    /// <returns>False when it is no longer waiting for our answer (confirmed or refused already).</returns>
    public bool Refuse(uint reasonCode, string description)
    {
        uint remote;
        bool lost;
        lock (_lock)
        {
            if (!_accepting)
            {
                return false;
            }
            _accepting = false;
            _openFailed = true;
            _closeWanted = true;
            Wake();
            remote = _remoteNumber;
            lost = _lost;
        }
        if (!lost)
        {
            _owner.TrySend(new ChannelOpenFailureMessage(remote, description, reasonCode));
        }
        _owner.Forget(this);
        return true;
    }

    /// <summary>The window this channel gives the server (its share of the session's budget), kept for its life.</summary>
    public uint Window { get; }

    /// <summary>Asks the server to connect to <paramref name="host"/>:<paramref name="port"/> and waits for its answer.</summary>
    /// <exception cref="ChannelOpenRefusedException">the server refused (could not connect, not allowed, ...).</exception>
    /// <exception cref="SshConnectionException">the session is gone.</exception>
    /// <exception cref="OperationCanceledException">no answer before <paramref name="cancellationToken"/>: the channel is closed if it opens later.</exception>
    public async Task OpenAsync(string host, int port, string originatorAddress, int originatorPort, CancellationToken cancellationToken)
    {
        var open = new ChannelOpenMessage(LocalNumber, Window, LocalPacket,
            new DirectTcpipOpenInfo(host, (uint)port, originatorAddress, (uint)originatorPort));
        if (!_owner.TrySend(open))
        {
            OnSessionLost();
            throw new SshConnectionException("the SSH session is gone");
        }
        ChannelOpenFailureMessage? failure;
        try
        {
            failure = await _opened.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            Close(); // closed now if it opened meanwhile, else as soon as the server confirms it
            throw;
        }
        if (failure is not null)
        {
            throw new ChannelOpenRefusedException(failure.ReasonCode, failure.Description);
        }
    }

    /// <summary>
    /// Sends <paramref name="count"/> bytes of <paramref name="buffer"/> within the server's window (waits for it
    /// to open, holding no thread; the session's send itself blocks while its socket is full).
    /// </summary>
    /// <returns>False when the channel is closed or the session gone (nothing more can be sent).</returns>
    public async ValueTask<bool> SendAsync(byte[] buffer, int offset, int count)
    {
        while (count > 0)
        {
            Task? wait = null;
            int n = 0;
            uint remote;
            lock (_lock)
            {
                if (!_open || _closeReceived || _closeWanted || _lost)
                {
                    return false;
                }
                if (_remoteWindow == 0)
                {
                    wait = (_windowWaiter ??= new(TaskCreationOptions.RunContinuationsAsynchronously)).Task;
                }
                else
                {
                    n = (int)Math.Min(Math.Min(count, _remotePacket), _remoteWindow);
                    _remoteWindow -= n;
                    _sending = true;
                }
                remote = _remoteNumber;
            }
            if (wait is not null)
            {
                await wait.ConfigureAwait(false);
                continue;
            }
            if (!SendGuarded(new ChannelDataMessage(remote, buffer, offset, n)))
            {
                return false;
            }
            offset += n;
            count -= n;
        }
        return true;
    }

    /// <summary>Tells the server no more data comes from us (its target sees EOF); the other direction goes on.</summary>
    public void SendEof()
    {
        uint remote;
        lock (_lock)
        {
            if (!_open || _closeReceived || _closeWanted || _lost)
            {
                return;
            }
            remote = _remoteNumber;
        }
        _owner.TrySend(new ChannelEofMessage(remote));
    }

    /// <summary>
    /// The next data, or EOF (once), or the end (the server closed the channel, we did, or the session is gone).
    /// Data the server sent before its EOF or CLOSE comes first.
    /// </summary>
    public async ValueTask<RelayRead> ReceiveAsync()
    {
        while (true)
        {
            Task wait;
            lock (_lock)
            {
                if (_received.TryDequeue(out var chunk))
                {
                    return new RelayRead(RelayReadKind.Data, chunk.Buffer, chunk.Length);
                }
                if (_lost || _closeReceived || _closeWanted)
                {
                    return new RelayRead(RelayReadKind.Closed);
                }
                if (_eofReceived && !_eofDelivered)
                {
                    _eofDelivered = true;
                    return new RelayRead(RelayReadKind.Eof);
                }
                wait = (_receiveWaiter ??= new(TaskCreationOptions.RunContinuationsAsynchronously)).Task;
            }
            await wait.ConfigureAwait(false);
        }
    }

    /// <summary>The reader passed on a chunk from <see cref="ReceiveAsync"/>: its buffer goes back, and the window re-opens by half.</summary>
    public void Consumed(byte[] buffer, int length)
    {
        ArrayPool<byte>.Shared.Return(buffer);
        uint add = 0, remote = 0;
        lock (_lock)
        {
            _consumed += length;
            if (_consumed >= Window / 2 && _open && !_closeReceived && !_closeWanted && !_lost)
            {
                add = (uint)_consumed;
                _localWindowLeft += _consumed;
                _consumed = 0;
                remote = _remoteNumber;
            }
        }
        if (add > 0)
        {
            _owner.TrySend(new ChannelWindowAdjustMessage(remote, add));
        }
    }

    /// <summary>
    /// Ends the channel: sends CLOSE once, never in the middle of a data message being sent, and for a channel the
    /// server has not confirmed yet as soon as it does (a late confirmation never leaves a channel open on the server).
    /// A channel the server opened and we have not confirmed is refused instead.
    /// </summary>
    public void Close()
    {
        bool accepting;
        lock (_lock)
        {
            accepting = _accepting;
        }
        if (accepting && Refuse(AdministrativelyProhibited, "closed"))
        {
            return;
        }
        lock (_lock)
        {
            _closeWanted = true;
            Wake();
            if (_sending)
            {
                _closePending = true; // the sender closes after its message
                return;
            }
        }
        SendClose();
    }

    private void SendClose()
    {
        bool send, forget;
        uint remote;
        lock (_lock)
        {
            _closeWanted = true;
            Wake();
            if (!_open)
            {
                send = false;
                forget = _openFailed || _lost; // otherwise kept until the server answers the open (OnConfirmed closes it)
            }
            else
            {
                send = !_closeSent && !_lost;
                _closeSent = true;
                forget = _closeReceived || _lost;
            }
            remote = _remoteNumber;
        }
        if (send)
        {
            _owner.TrySend(new ChannelCloseMessage(remote));
        }
        if (forget)
        {
            _owner.Forget(this);
        }
    }

    /// <summary>Wakes the reader and the writer to look at the state again. Under the lock.</summary>
    private void Wake()
    {
        _receiveWaiter?.TrySetResult();
        _receiveWaiter = null;
        _windowWaiter?.TrySetResult();
        _windowWaiter = null;
    }

    // Called on SSH.NET's receive thread: never block here.

    internal void OnConfirmed(ChannelOpenConfirmationMessage message)
    {
        bool unwanted;
        lock (_lock)
        {
            if (_accepting || _open || _openFailed)
            {
                return; // not a channel we asked for, or answered already: a confused or hostile server
            }
            _remoteNumber = message.RemoteChannelNumber;
            _remoteWindow = message.InitialWindowSize;
            _remotePacket = Math.Max(1, Math.Min(message.MaximumPacketSize, 32 * 1024));
            _open = true;
            unwanted = _closeWanted;
        }
        if (unwanted)
        {
            SendClose();
        }
        _opened.TrySetResult(null);
    }

    internal void OnOpenFailed(ChannelOpenFailureMessage message)
    {
        lock (_lock)
        {
            if (_accepting || _open || _openFailed)
            {
                return; // not a channel we asked for, or answered already
            }
            _openFailed = true;
        }
        _owner.Forget(this);
        _opened.TrySetResult(message);
    }

    internal void OnWindowAdjust(uint bytesToAdd)
    {
        lock (_lock)
        {
            _remoteWindow = Math.Min(_remoteWindow + bytesToAdd, uint.MaxValue);
            _windowWaiter?.TrySetResult();
            _windowWaiter = null;
        }
    }

    internal void OnData(ReadOnlySpan<byte> data)
    {
        bool violation = false;
        lock (_lock)
        {
            if (!_open || _closeReceived || _closeWanted || _lost || _eofReceived || data.IsEmpty)
            {
                return;
            }
            _localWindowLeft -= data.Length;
            if (_localWindowLeft < 0)
            {
                violation = true; // more than the window we gave: the server ignores flow control; do not buffer it
            }
            else
            {
                // SSH.NET reuses its receive buffer for the next packet: keep a copy.
                var copy = ArrayPool<byte>.Shared.Rent(data.Length);
                data.CopyTo(copy);
                _received.Enqueue((copy, data.Length));
                _receiveWaiter?.TrySetResult();
                _receiveWaiter = null;
            }
        }
        if (violation)
        {
            Close();
        }
    }

    internal void OnEof()
    {
        lock (_lock)
        {
            _eofReceived = true;
            _receiveWaiter?.TrySetResult();
            _receiveWaiter = null;
        }
    }

    internal void OnClose()
    {
        bool reply;
        lock (_lock)
        {
            _closeReceived = true;
            reply = !_closeSent;
            Wake();
            if (reply && _sending)
            {
                _closePending = true; // the sender answers the CLOSE after its message
                return;
            }
        }
        if (reply)
        {
            SendClose();
        }
        else
        {
            _owner.Forget(this);
        }
    }

    internal void OnSessionLost()
    {
        lock (_lock)
        {
            _lost = true;
            Wake();
        }
        _owner.Forget(this);
        _opened.TrySetException(new SshConnectionException("the SSH session is gone"));
    }

    void IDisposable.Dispose() => Close();
}
