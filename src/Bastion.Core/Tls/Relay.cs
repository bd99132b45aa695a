using System.Net.Security;
using System.Net.Sockets;

namespace Bastion.Tls;

/// <summary>Bytes moved by one relayed connection, each way.</summary>
public readonly record struct RelayResult(long FromTls, long ToTls, string? Error);

/// <summary>
/// Moves bytes between an authenticated TLS stream and a plain socket (the backend, or the admin's local client), both
/// directions at once. Built for throughput (scripts/bench/tls-relay.sh): one 256 KiB buffer per direction, the plain side
/// driven by the socket directly rather than through a NetworkStream, TLS writes of up to 256 KiB, and on the way out of TLS
/// the records that are already buffered gathered into one send (never holding bytes back while a read waits).
/// Half-close is passed on (EOF from one side becomes close_notify or shutdown(SHUT_WR) on the other), and the connection
/// ends when both directions have.
/// </summary>
public static class Relay
{
    public const int BufferSize = 256 * 1024;

    /// <summary>Room left for one more read before gathered bytes are sent (a TLS record is at most 16 KiB of plaintext).</summary>
    private const int MinReadSpace = 32 * 1024;

    public static async Task<RelayResult> RunAsync(SslStream tls, Socket plain, CancellationToken cancellationToken)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        string? error = null;
        long fromTls = 0, toTls = 0;

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
                        break;
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
                    await tls.WriteAsync(buffer.AsMemory(0, n), stop.Token).ConfigureAwait(false);
                    toTls += n;
                }
                // ShutdownAsync takes no token: a peer that stopped reading (zero window) would hold it, and with it the
                // endpoint's stop, forever. Bounded by stop; the caller's dispose of the stream then ends the send.
                var shutdown = tls.ShutdownAsync();
                _ = shutdown.ContinueWith(t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
                await shutdown.WaitAsync(stop.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or OperationCanceledException or InvalidOperationException)
            {
                error ??= Describe(e);
                await stop.CancelAsync().ConfigureAwait(false);
            }
        }

        await Task.WhenAll(Task.Run(TlsToPlain, CancellationToken.None), Task.Run(PlainToTls, CancellationToken.None)).ConfigureAwait(false);
        if (cancellationToken.IsCancellationRequested)
        {
            error = "stopped";
        }
        return new RelayResult(fromTls, toTls, error);
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
