using System.Net.Security;
using System.Net.Sockets;

namespace Bastion.Tls;

/// <summary>
/// Sees the bytes of a relayed connection as they pass, without changing them, while <see cref="Watching"/> (e.g. the VNC
/// endpoint learns whether the client passed VNC authentication). The two directions call it concurrently: implementations
/// synchronise themselves. Once Watching is false the relay stops calling it (the hot path pays one flag read).
/// </summary>
public interface IRelayObserver
{
    bool Watching { get; }

    /// <summary>Bytes read from the TLS side (the peer), before they go to the plain side.</summary>
    void FromTls(ReadOnlySpan<byte> data);

    /// <summary>Bytes read from the plain side (the backend), before they go to the TLS side.</summary>
    void FromPlain(ReadOnlySpan<byte> data);
}

/// <summary>
/// Ends a relayed connection when no byte has moved either way for <see cref="Limit"/>: the TLS-level idle detection
/// of a phoned-home session, whose peer (a frozen process whose kernel still answers TCP keepalives) would otherwise hold
/// its slot forever. Checked every quarter of the limit (at most every 5 s), so it acts between 1 and 1.25 limits of
/// silence. The limit is read at every check: a reload that changes it (tls[].idleTimeout) applies to open connections
/// within 5 s.
/// </summary>
public sealed class RelayIdleLimit
{
    private static readonly TimeSpan LongestTick = TimeSpan.FromSeconds(5);
    private readonly Func<TimeSpan> _limit;

    public RelayIdleLimit(TimeSpan limit, TimeProvider time)
        : this(() => limit, time)
    {
    }

    /// <param name="limit">Read at every check: the current limit.</param>
    /// <param name="time">The clock.</param>
    public RelayIdleLimit(Func<TimeSpan> limit, TimeProvider time)
    {
        _limit = limit;
        Time = time;
    }

    public TimeSpan Limit => _limit();

    public TimeProvider Time { get; }

    /// <summary>How long to wait before the next check for <paramref name="limit"/>.</summary>
    internal static TimeSpan Tick(TimeSpan limit) => limit / 4 < LongestTick ? limit / 4 : LongestTick;
}

/// <summary>Bytes moved by one relayed connection, each way; whether the TLS peer ended its side (EOF or error, not our stop).</summary>
public readonly record struct RelayResult(long FromTls, long ToTls, string? Error, bool TlsPeerEnded = false)
{
    /// <summary>
    /// The TLS peer ended the connection without ever sending a byte: what a server that refused our certificate after the
    /// handshake (TLS 1.3 lets it only close) looks like from the client.
    /// </summary>
    public bool ClosedByPeerWithoutData => FromTls == 0 && TlsPeerEnded;
}

/// <summary>
/// Moves bytes between an authenticated TLS stream and a plain socket (the backend, or the admin's local client), both
/// directions at once. Built for throughput (scripts/bench/tls-relay.sh): one 256 KiB buffer per direction, the plain side
/// driven by the socket directly rather than through a NetworkStream, TLS writes of up to 256 KiB, and on the way out of TLS
/// the records that are already buffered gathered into one send (never holding bytes back while a read waits).
/// Half-close is passed on (EOF from one side becomes close_notify or shutdown(SHUT_WR) on the other), and the connection
/// ends when both directions have.
/// <para>
/// close_notify is sent only once nothing is being read from the TLS side any more. <see cref="SslStream.ShutdownAsync"/>
/// while a read of the same stream is in progress (the normal state of a full-duplex relay) raced with that read in
/// OpenSSL under load: the peer then saw "decryption failed", or our side never saw its data. When the TLS side is still
/// open, EOF from the plain side becomes a TCP shutdown(SHUT_WR) of the TLS connection instead, which touches no TLS
/// state; the peer reads it as the end of the stream (a relay's EOF is the end of the session anyway).
/// </para>
/// </summary>
public static class Relay
{
    public const int BufferSize = 256 * 1024;

    /// <summary>Room left for one more read before gathered bytes are sent (a TLS record is at most 16 KiB of plaintext).</summary>
    private const int MinReadSpace = 32 * 1024;

    /// <param name="tls">The authenticated stream.</param>
    /// <param name="tlsSocket">The socket under <paramref name="tls"/> (for the TCP half-close).</param>
    /// <param name="plain">The backend, or the admin's local client.</param>
    /// <param name="cancellationToken">Stops the relay.</param>
    /// <param name="observer">Sees the first bytes each way while it is watching; null for none.</param>
    /// <param name="idle">Ends the connection after this long without a byte either way; null for never.</param>
    public static async Task<RelayResult> RunAsync(SslStream tls, Socket tlsSocket, Socket plain, CancellationToken cancellationToken, IRelayObserver? observer = null, RelayIdleLimit? idle = null)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        string? error = null;
        long fromTls = 0, toTls = 0;
        var tlsReadDone = 0;
        var tlsPeerEnded = false;
        var lastActivity = idle?.Time.GetTimestamp() ?? 0; // one timestamp per read when idle is set; nothing otherwise

        async Task WatchIdle(RelayIdleLimit limit)
        {
            try
            {
                while (true)
                {
                    await Task.Delay(RelayIdleLimit.Tick(limit.Limit), limit.Time, stop.Token).ConfigureAwait(false);
                    var current = limit.Limit;
                    if (limit.Time.GetElapsedTime(Volatile.Read(ref lastActivity)) >= current)
                    {
                        error ??= $"idle: no byte either way for {Config.Durations.Format(current)}";
                        tlsPeerEnded = true; // the peer is the one that went silent (frozen, or its network gone)
                        await stop.CancelAsync().ConfigureAwait(false);
                        return;
                    }
                }
            }
            catch (OperationCanceledException)
            {
            }
        }

        // SslStream hands out one TLS record (≤ 16 KiB) per read. Records that are already buffered (the read completes
        // synchronously) are gathered and sent to the plain side with one send; as soon as a read would wait, what has
        // been gathered is sent first — so nothing is ever held back while waiting (interactive traffic stays prompt).
        async Task TlsToPlain()
        {
            var buffer = GC.AllocateUninitializedArray<byte>(BufferSize);
            var start = 0;
            var end = 0;
            try
            {
                while (true)
                {
                    if (start == end)
                    {
                        start = end = 0;
                    }
                    else if (buffer.Length - end < MinReadSpace)
                    {
                        await SendAllAsync(plain, buffer.AsMemory(start, end - start), stop.Token).ConfigureAwait(false);
                        start = end = 0;
                    }
                    var pending = tls.ReadAsync(buffer.AsMemory(end), stop.Token);
                    if (!pending.IsCompleted && end > start)
                    {
                        await SendAllAsync(plain, buffer.AsMemory(start, end - start), stop.Token).ConfigureAwait(false); // [start, end) is not the read's region
                        start = end;
                    }
                    var n = await pending.ConfigureAwait(false);
                    if (n == 0)
                    {
                        tlsPeerEnded = true;
                        Volatile.Write(ref tlsReadDone, 1);
                        break;
                    }
                    if (idle is not null)
                    {
                        Volatile.Write(ref lastActivity, idle.Time.GetTimestamp());
                    }
                    if (observer is { Watching: true })
                    {
                        observer.FromTls(buffer.AsSpan(end, n));
                    }
                    end += n;
                    fromTls += n;
                }
                if (end > start)
                {
                    await SendAllAsync(plain, buffer.AsMemory(start, end - start), stop.Token).ConfigureAwait(false);
                }
                plain.Shutdown(SocketShutdown.Send);
            }
            catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or OperationCanceledException or System.Security.Authentication.AuthenticationException)
            {
                tlsPeerEnded |= e is not OperationCanceledException && !stop.IsCancellationRequested;
                error ??= Describe(e);
                await stop.CancelAsync().ConfigureAwait(false);
            }
        }

        async Task PlainToTls()
        {
            var buffer = GC.AllocateUninitializedArray<byte>(BufferSize);
            try
            {
                int n;
                while ((n = await plain.ReceiveAsync(buffer, SocketFlags.None, stop.Token).ConfigureAwait(false)) > 0)
                {
                    if (observer is { Watching: true })
                    {
                        observer.FromPlain(buffer.AsSpan(0, n));
                    }
                    await tls.WriteAsync(buffer.AsMemory(0, n), stop.Token).ConfigureAwait(false);
                    toTls += n;
                    if (idle is not null)
                    {
                        // after the write: bytes the peer does not take (a frozen reader) are no activity
                        Volatile.Write(ref lastActivity, idle.Time.GetTimestamp());
                    }
                }
                if (Volatile.Read(ref tlsReadDone) == 0)
                {
                    tlsSocket.Shutdown(SocketShutdown.Send); // a read is in progress: no TLS state touched (see above)
                }
                else
                {
                    // ShutdownAsync takes no token: a peer that stopped reading (zero window) would hold it, and with it the
                    // endpoint's stop, forever. Bounded by stop; the caller's dispose of the stream then ends the send.
                    var shutdown = tls.ShutdownAsync();
                    _ = shutdown.ContinueWith(t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
                    await shutdown.WaitAsync(stop.Token).ConfigureAwait(false);
                }
            }
            catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or OperationCanceledException or InvalidOperationException)
            {
                error ??= Describe(e);
                await stop.CancelAsync().ConfigureAwait(false);
            }
        }

        var watch = idle is null ? Task.CompletedTask : WatchIdle(idle);
        await Task.WhenAll(Task.Run(TlsToPlain, CancellationToken.None), Task.Run(PlainToTls, CancellationToken.None)).ConfigureAwait(false);
        await stop.CancelAsync().ConfigureAwait(false); // ends the idle watch
        await watch.ConfigureAwait(false);
        if (cancellationToken.IsCancellationRequested)
        {
            error = "stopped";
        }
        return new RelayResult(fromTls, toTls, error, tlsPeerEnded);
    }

    private static async ValueTask SendAllAsync(Socket socket, ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        while (!data.IsEmpty)
        {
            data = data[await socket.SendAsync(data, SocketFlags.None, cancellationToken).ConfigureAwait(false)..];
        }
    }

    private static string Describe(Exception e) => e switch
    {
        OperationCanceledException => "closed by the other side",
        SocketException s => s.SocketErrorCode == SocketError.ConnectionReset ? "connection reset" : s.SocketErrorCode.ToString(),
        IOException { InnerException: SocketException s } => s.SocketErrorCode == SocketError.ConnectionReset ? "connection reset" : s.SocketErrorCode.ToString(),
        _ => e.Message,
    };
}
