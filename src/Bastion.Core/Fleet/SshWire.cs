using System.Buffers.Binary;
using System.Text;

namespace Bastion.Fleet;

/// <summary>Thrown by <see cref="SshReader"/> on truncated or inconsistent input; caught at the API edge and turned into a Malformed outcome.</summary>
public sealed class SshFormatException(string message) : Exception(message);

/// <summary>
/// Reads the SSH wire encoding (RFC 4251 §5: uint32, uint64, string, mpint) from a buffer. Every length is checked
/// against what remains, so hostile input costs at most its own size.
/// </summary>
internal sealed class SshReader(ReadOnlyMemory<byte> data)
{
    private int _position;

    public int Remaining => data.Length - _position;

    public bool AtEnd => _position == data.Length;

    public ReadOnlySpan<byte> ReadRaw(int count)
    {
        if (count < 0 || count > Remaining)
        {
            throw new SshFormatException("truncated");
        }
        var span = data.Span.Slice(_position, count);
        _position += count;
        return span;
    }

    public byte ReadByte() => ReadRaw(1)[0];

    public uint ReadUInt32() => BinaryPrimitives.ReadUInt32BigEndian(ReadRaw(4));

    public ulong ReadUInt64() => BinaryPrimitives.ReadUInt64BigEndian(ReadRaw(8));

    public ReadOnlyMemory<byte> ReadString()
    {
        var length = ReadUInt32();
        if (length > (uint)Remaining)
        {
            throw new SshFormatException("string length beyond the end");
        }
        var memory = data.Slice(_position, (int)length);
        _position += (int)length;
        return memory;
    }

    /// <summary>A string that must be UTF-8 text without NUL (names, namespaces, algorithms).</summary>
    public string ReadText()
    {
        var bytes = ReadString().Span;
        if (bytes.Contains((byte)0))
        {
            throw new SshFormatException("NUL in a text field");
        }
        try
        {
            return new UTF8Encoding(false, true).GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            throw new SshFormatException("text field is not UTF-8");
        }
    }

    /// <summary>An mpint as unsigned big-endian magnitude without leading zeros; negative values are refused.</summary>
    public ReadOnlySpan<byte> ReadPositiveMpint()
    {
        var bytes = ReadString().Span;
        if (bytes.Length > 0 && (bytes[0] & 0x80) != 0)
        {
            throw new SshFormatException("negative mpint");
        }
        while (bytes.Length > 0 && bytes[0] == 0)
        {
            bytes = bytes[1..];
        }
        return bytes;
    }

    public void ExpectEnd()
    {
        if (!AtEnd)
        {
            throw new SshFormatException("trailing data");
        }
    }
}

/// <summary>Writes the SSH wire encoding.</summary>
internal sealed class SshWriter
{
    private readonly System.Buffers.ArrayBufferWriter<byte> _buffer = new();

    public SshWriter WriteRaw(ReadOnlySpan<byte> bytes)
    {
        System.Buffers.BuffersExtensions.Write(_buffer, bytes);
        return this;
    }

    public SshWriter WriteUInt32(uint value)
    {
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(b, value);
        return WriteRaw(b);
    }

    public SshWriter WriteUInt64(ulong value)
    {
        Span<byte> b = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64BigEndian(b, value);
        return WriteRaw(b);
    }

    public SshWriter WriteString(ReadOnlySpan<byte> bytes)
    {
        WriteUInt32((uint)bytes.Length);
        return WriteRaw(bytes);
    }

    public SshWriter WriteText(string text) => WriteString(Encoding.UTF8.GetBytes(text));

    public byte[] ToArray() => _buffer.WrittenSpan.ToArray();
}
