using System.Net.Sockets;

namespace Bastion.Tls;

/// <summary>
/// The stream under an SslStream, built for bulk relaying: reads pull up to <see cref="ReadAheadSize"/> bytes per recv (SslStream
/// asks for about one 16 KiB record at a time, which would be one syscall per record), and once <see cref="CoalesceWrites"/>
/// is on, the records SslStream writes during one relay write are gathered and sent with one send at
/// <see cref="FlushAsync(CancellationToken)"/> (the relay flushes after every write, so nothing waits: latency is unchanged).
/// During the handshake writes go straight through.
/// </summary>
public sealed class SocketTransportStream(Socket socket) : Stream
{
    public const int ReadAheadSize = 256 * 1024;

    // Allocated only once the peer is authenticated (CoalesceWrites): an unauthenticated connection costs no large buffer.
    private byte[]? _readBuffer;
    private int _readStart;
    private int _readEnd;
    private byte[] _writeBuffer = [];
    private int _writeLength;

    public Socket Socket { get; } = socket;

    /// <summary>Read ahead, and gather writes until the next flush (set by the relay after the handshake).</summary>
    public bool CoalesceWrites { get; set; }

    public override bool CanRead => true;
    public override bool CanWrite => true;
    public override bool CanSeek => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (_readStart == _readEnd)
        {
            if (buffer.Length >= ReadAheadSize || !CoalesceWrites)
            {
                return await Socket.ReceiveAsync(buffer, SocketFlags.None, cancellationToken).ConfigureAwait(false);
            }
            _readBuffer ??= GC.AllocateUninitializedArray<byte>(ReadAheadSize);
            _readStart = 0;
            _readEnd = await Socket.ReceiveAsync(_readBuffer, SocketFlags.None, cancellationToken).ConfigureAwait(false);
            if (_readEnd == 0)
            {
                return 0;
            }
        }
        var n = Math.Min(buffer.Length, _readEnd - _readStart);
        _readBuffer!.AsSpan(_readStart, n).CopyTo(buffer.Span);
        _readStart += n;
        return n;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer, offset, count, CancellationToken.None).GetAwaiter().GetResult();

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (!CoalesceWrites)
        {
            await SendAllAsync(buffer, cancellationToken).ConfigureAwait(false);
            return;
        }
        if (_writeLength + buffer.Length > _writeBuffer.Length)
        {
            var bigger = GC.AllocateUninitializedArray<byte>(Math.Max(_writeLength + buffer.Length, Math.Max(64 * 1024, _writeBuffer.Length * 2)));
            _writeBuffer.AsSpan(0, _writeLength).CopyTo(bigger);
            _writeBuffer = bigger;
        }
        buffer.Span.CopyTo(_writeBuffer.AsSpan(_writeLength));
        _writeLength += buffer.Length;
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer, offset, count, CancellationToken.None).GetAwaiter().GetResult();

    public override async Task FlushAsync(CancellationToken cancellationToken)
    {
        if (_writeLength > 0)
        {
            var length = _writeLength;
            _writeLength = 0;
            await SendAllAsync(_writeBuffer.AsMemory(0, length), cancellationToken).ConfigureAwait(false);
        }
    }

    public override void Flush() => FlushAsync(CancellationToken.None).GetAwaiter().GetResult();

    private async ValueTask SendAllAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        while (!data.IsEmpty)
        {
            var sent = await Socket.SendAsync(data, SocketFlags.None, cancellationToken).ConfigureAwait(false);
            data = data[sent..];
        }
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            Socket.Dispose();
        }
        base.Dispose(disposing);
    }
}
