using System.Buffers;
using System.Net.Sockets;

namespace Bastion.Daemon.Tunnels;

/// <summary>What one read of a relay's end gave.</summary>
internal enum RelayReadKind { Data, Eof, Closed }

/// <summary>One read of a relay's end: data (a pooled buffer the reader gives back with <see cref="IRelayEnd.Consumed"/>), EOF, or the end.</summary>
internal readonly record struct RelayRead(RelayReadKind Kind, byte[]? Buffer = null, int Length = 0);

/// <summary>
/// One side of a relayed connection: a TCP socket (<see cref="SocketRelayEnd"/>) or an SSH channel
/// (<see cref="TcpipChannel"/>). The relay's one pump moves bytes between two of them, whatever they are, and carries
/// EOF each way on its own (half-close). One reader and one writer at a time.
/// </summary>
internal interface IRelayEnd : IDisposable
{
    /// <summary>The next data, or EOF (once), or the end (closed, reset, gone).</summary>
    ValueTask<RelayRead> ReceiveAsync();

    /// <summary>The reader passed on a chunk from <see cref="ReceiveAsync"/>: its buffer goes back (and a channel's window re-opens).</summary>
    void Consumed(byte[] buffer, int length);

    /// <summary>Sends <paramref name="count"/> bytes; false when nothing more can be sent (closed, reset, gone).</summary>
    ValueTask<bool> SendAsync(byte[] buffer, int offset, int count);

    /// <summary>No more data comes from this side: the far end reads EOF and may still send.</summary>
    void SendEof();

    /// <summary>
    /// After its EOF this end can still tell that it closed (an SSH channel's CLOSE): the pump keeps reading it.
    /// A socket cannot (reads after EOF return EOF again), so its pump ends at EOF.
    /// </summary>
    bool ReportsCloseAfterEof { get; }
}

/// <summary>
/// A TCP socket as a relay's end. Idle, it waits with a zero-byte receive and holds no buffer; a buffer is rented only
/// while bytes move. <see cref="IDisposable.Dispose"/> shuts it both ways first (a FIN, so data already sent is not
/// lost to a reset), then closes it.
/// </summary>
internal sealed class SocketRelayEnd(Socket socket) : IRelayEnd
{
    internal const int BufferSize = 64 * 1024;
    private int _disposed;

    public Socket Socket => socket;

    public bool ReportsCloseAfterEof => false;

    public async ValueTask<RelayRead> ReceiveAsync()
    {
        byte[]? buffer = null;
        try
        {
            if (socket.Available == 0)
            {
                await socket.ReceiveAsync(Memory<byte>.Empty, SocketFlags.None).ConfigureAwait(false);
            }
            buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
            var n = await socket.ReceiveAsync(buffer.AsMemory(0, BufferSize), SocketFlags.None).ConfigureAwait(false);
            if (n > 0)
            {
                return new RelayRead(RelayReadKind.Data, buffer, n);
            }
            ArrayPool<byte>.Shared.Return(buffer);
            return new RelayRead(RelayReadKind.Eof);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            if (buffer is not null)
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
            return new RelayRead(RelayReadKind.Closed);
        }
    }

    public void Consumed(byte[] buffer, int length) => ArrayPool<byte>.Shared.Return(buffer);

    public async ValueTask<bool> SendAsync(byte[] buffer, int offset, int count)
    {
        try
        {
            while (count > 0)
            {
                var n = await socket.SendAsync(buffer.AsMemory(offset, count), SocketFlags.None).ConfigureAwait(false);
                offset += n;
                count -= n;
            }
            return true;
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            return false;
        }
    }

    public void SendEof() => Shutdown(SocketShutdown.Send);

    private void Shutdown(SocketShutdown how)
    {
        try
        {
            socket.Shutdown(how);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
        }
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            Shutdown(SocketShutdown.Both);
            socket.Dispose();
        }
    }
}
