using System.Collections.Concurrent;
using Renci.SshNet;
using Renci.SshNet.Common;
using Renci.SshNet.Messages;
using Renci.SshNet.Messages.Connection;

namespace Bastion.Daemon.Tunnels;

/// <summary>
/// Opens <c>direct-tcpip</c> channels (RFC 4254 section 7.2) on one SSH session, accepts the <c>forwarded-tcpip</c>
/// channels the server opens for a remote forward (section 7.1, handed over by <see cref="SshGlobalRequests"/>), and
/// routes the server's channel messages to them, so a relay moves bytes between a socket and the channel with no second socket:
/// no loopback hop through SSH.NET's forwarded-port listener and no thread per connection (SSH.NET's own channel reads
/// its socket on a blocking thread per connection and closes the channel at the first EOF, losing half-close).
/// </summary>
/// <remarks>
/// SSH.NET 2026.0.0 makes the session's channel message events and the message types public; what is internal (the
/// session's <c>SendMessage</c> and its channel number counter, shared with SSH.NET's own channels so numbers never
/// collide) is reached through <see cref="SshNetInternals"/>, which fails loudly at the first use (<see cref="Attach"/>).
/// One handler per session and message type looks the channel up by number (SSH.NET's channels each subscribe to
/// every message instead).
/// </remarks>
internal sealed class TcpipChannels : IDisposable
{
    private readonly Session _session;
    private readonly ConcurrentDictionary<uint, TcpipChannel> _channels = new();
    private readonly EventHandler<MessageEventArgs<ChannelOpenConfirmationMessage>> _onConfirmed;
    private readonly EventHandler<MessageEventArgs<ChannelOpenFailureMessage>> _onOpenFailed;
    private readonly EventHandler<MessageEventArgs<ChannelWindowAdjustMessage>> _onWindow;
    private readonly EventHandler<MessageEventArgs<ChannelDataMessage>> _onData;
    private readonly EventHandler<MessageEventArgs<ChannelEofMessage>> _onEof;
    private readonly EventHandler<MessageEventArgs<ChannelCloseMessage>> _onClose;
    private readonly EventHandler<EventArgs> _onDisconnected;
    private readonly EventHandler<ExceptionEventArgs> _onError;
    private int _lost;

    private TcpipChannels(Session session)
    {
        _session = session;
        _onConfirmed = (_, e) => Find(e.Message.LocalChannelNumber)?.OnConfirmed(e.Message);
        _onOpenFailed = (_, e) => Find(e.Message.LocalChannelNumber)?.OnOpenFailed(e.Message);
        _onWindow = (_, e) => Find(e.Message.LocalChannelNumber)?.OnWindowAdjust(e.Message.BytesToAdd);
        _onData = (_, e) => Find(e.Message.LocalChannelNumber)?.OnData(e.Message.Data.AsSpan(e.Message.Offset, e.Message.Size));
        _onEof = (_, e) => Find(e.Message.LocalChannelNumber)?.OnEof();
        _onClose = (_, e) => Find(e.Message.LocalChannelNumber)?.OnClose();
        _onDisconnected = (_, _) => SessionLost();
        _onError = (_, _) => SessionLost();
    }

    /// <summary>Routes the channel messages of <paramref name="client"/>'s session (connected) to channels opened here.</summary>
    /// <exception cref="SshConnectionException">the client has no session (not connected).</exception>
    /// <exception cref="MissingMethodException">SSH.NET no longer has the internals this relies on.</exception>
    public static TcpipChannels Attach(SshClient client)
    {
        var session = SshNetInternals.SessionOf(client);
        var channels = new TcpipChannels(session);
        session.ChannelOpenConfirmationReceived += channels._onConfirmed;
        session.ChannelOpenFailureReceived += channels._onOpenFailed;
        session.ChannelWindowAdjustReceived += channels._onWindow;
        session.ChannelDataReceived += channels._onData;
        session.ChannelEofReceived += channels._onEof;
        session.ChannelCloseReceived += channels._onClose;
        session.Disconnected += channels._onDisconnected;
        session.ErrorOccured += channels._onError;
        if (!session.IsConnected)
        {
            channels.SessionLost();
        }
        return channels;
    }

    /// <summary>Channels open or opening (not yet closed both ways).</summary>
    public int Count => _channels.Count;

    /// <summary>
    /// What a client that stops reading can make bastiond hold is its channel's window: data the server may send before
    /// it is passed on. The windows of one session's channels share this budget: channels get OpenSSH's 2 MiB while it
    /// lasts, later ones less, never below <see cref="MinWindow"/>; so N connections held by clients that never read cost
    /// at most the budget plus N × <see cref="MinWindow"/> (with the default limits, 256 per tunnel: 80 MiB), not N × 2 MiB.
    /// A channel keeps its window for its life; the budget gets it back when the channel is gone.
    /// </summary>
    public const long WindowBudget = 64L * 1024 * 1024;

    /// <summary>The smallest window a channel gets: two packets.</summary>
    public const uint MinWindow = 2 * TcpipChannel.LocalPacket;

    private long _windowsGranted;

    /// <summary>Sum of the windows of the channels alive now.</summary>
    public long WindowsGranted => Volatile.Read(ref _windowsGranted);

    /// <summary>The window a new channel gets when <paramref name="granted"/> is already given to others.</summary>
    internal static uint WindowFor(long granted) => (uint)Math.Clamp(WindowBudget - granted, MinWindow, TcpipChannel.LocalWindow);

    private uint ReserveWindow()
    {
        while (true)
        {
            var granted = Volatile.Read(ref _windowsGranted);
            var window = WindowFor(granted);
            if (Interlocked.CompareExchange(ref _windowsGranted, granted + window, granted) == granted)
            {
                return window;
            }
        }
    }

    /// <summary>A new channel, not yet opened (<see cref="TcpipChannel.OpenAsync"/>).</summary>
    public TcpipChannel Create() => Add(new TcpipChannel(this, SshNetInternals.NextChannelNumber(_session), ReserveWindow()));

    /// <summary>
    /// A channel the server opened (<c>forwarded-tcpip</c>, -R) with its number, window and packet size, waiting for
    /// <see cref="TcpipChannel.Confirm"/> or <see cref="TcpipChannel.Refuse"/>.
    /// </summary>
    public TcpipChannel Accept(uint remoteNumber, uint remoteWindow, uint remotePacket) =>
        Add(new TcpipChannel(this, SshNetInternals.NextChannelNumber(_session), ReserveWindow(), remoteNumber, remoteWindow, remotePacket));

    private TcpipChannel Add(TcpipChannel channel)
    {
        _channels[channel.LocalNumber] = channel;
        if (Volatile.Read(ref _lost) != 0)
        {
            channel.OnSessionLost();
        }
        return channel;
    }

    /// <summary>Sends <paramref name="message"/> (blocking while the session's socket is full).</summary>
    /// <returns>False when the session is gone.</returns>
    internal bool TrySend(Message message)
    {
        return Volatile.Read(ref _lost) == 0 && SshNetInternals.TrySend(_session, message);
    }

    internal void Forget(TcpipChannel channel)
    {
        if (_channels.TryRemove(new(channel.LocalNumber, channel)))
        {
            Interlocked.Add(ref _windowsGranted, -channel.Window);
        }
    }

    private TcpipChannel? Find(uint number) => _channels.GetValueOrDefault(number);

    private void SessionLost()
    {
        if (Interlocked.Exchange(ref _lost, 1) != 0)
        {
            return;
        }
        foreach (var channel in _channels.Values)
        {
            channel.OnSessionLost();
        }
    }

    public void Dispose()
    {
        _session.ChannelOpenConfirmationReceived -= _onConfirmed;
        _session.ChannelOpenFailureReceived -= _onOpenFailed;
        _session.ChannelWindowAdjustReceived -= _onWindow;
        _session.ChannelDataReceived -= _onData;
        _session.ChannelEofReceived -= _onEof;
        _session.ChannelCloseReceived -= _onClose;
        _session.Disconnected -= _onDisconnected;
        _session.ErrorOccured -= _onError;
        SessionLost(); // no message reaches the channels any more: whatever waits on them ends
    }
}

/// <summary>The channel-open payload of a <c>direct-tcpip</c> channel (RFC 4254 section 7.2).</summary>
internal sealed class DirectTcpipOpenInfo(string host, uint port, string originatorAddress, uint originatorPort) : ChannelOpenInfo
{
    private readonly byte[] _host = System.Text.Encoding.UTF8.GetBytes(host);
    private readonly byte[] _originator = System.Text.Encoding.UTF8.GetBytes(originatorAddress);

    public override string ChannelType => "direct-tcpip";

    protected override int BufferCapacity => base.BufferCapacity + 4 + _host.Length + 4 + 4 + _originator.Length + 4;

    protected override void SaveData()
    {
        base.SaveData();
        WriteBinaryString(_host);
        Write(port);
        WriteBinaryString(_originator);
        Write(originatorPort);
    }
}
