using System.Runtime.InteropServices;
using System.Text;

namespace Bastion.SdBus;

/// <summary>
/// A view of an <c>sd_bus_message</c> for appending and reading typed values. It does not own the message: whoever
/// created or received it unrefs it. Strings read from a message are copied, since sd-bus's pointers live only as long
/// as the message. Every failure throws <see cref="BusException"/> (in a handler it becomes a D-Bus error reply).
/// </summary>
public readonly unsafe struct BusMessage
{
    internal BusMessage(nint handle) => Handle = handle;

    internal nint Handle { get; }

    /// <summary>The member (method or signal name) of the message, or "" when it has none.</summary>
    public string Member => Marshal.PtrToStringUTF8(Native.sd_bus_message_get_member(Handle)) ?? "";

    public BusMessage Append(string value)
    {
        var bytes = Utf8Z(value);
        fixed (byte* p = bytes)
        {
            Check(Native.sd_bus_message_append_basic(Handle, (byte)'s', p), "append a string");
        }
        return this;
    }

    public BusMessage Append(long value)
    {
        Check(Native.sd_bus_message_append_basic(Handle, (byte)'x', &value), "append an int64");
        return this;
    }

    public BusMessage Append(uint value)
    {
        Check(Native.sd_bus_message_append_basic(Handle, (byte)'u', &value), "append a uint32");
        return this;
    }

    public BusMessage Append(ulong value)
    {
        Check(Native.sd_bus_message_append_basic(Handle, (byte)'t', &value), "append a uint64");
        return this;
    }

    public BusMessage Append(bool value)
    {
        var b = value ? 1 : 0; // D-Bus booleans are 4-byte ints
        Check(Native.sd_bus_message_append_basic(Handle, (byte)'b', &b), "append a boolean");
        return this;
    }

    public BusMessage AppendStrings(IEnumerable<string> values)
    {
        OpenContainer('a', "s");
        foreach (var value in values)
        {
            Append(value);
        }
        return CloseContainer();
    }

    public BusMessage AppendDictionary(IEnumerable<KeyValuePair<string, string>> entries)
    {
        OpenContainer('a', "{ss}");
        foreach (var (key, value) in entries)
        {
            OpenContainer('e', "ss").Append(key).Append(value).CloseContainer();
        }
        return CloseContainer();
    }

    /// <summary>Opens an array ('a'), struct ('r'), dict entry ('e') or variant ('v') of the given contents signature.</summary>
    public BusMessage OpenContainer(char type, string contents)
    {
        Check(Native.sd_bus_message_open_container(Handle, (byte)type, contents), $"open container {type}({contents})");
        return this;
    }

    public BusMessage CloseContainer()
    {
        Check(Native.sd_bus_message_close_container(Handle), "close a container");
        return this;
    }

    public string ReadString()
    {
        nint p;
        Check(Native.sd_bus_message_read_basic(Handle, (byte)'s', &p), "read a string", expectValue: true);
        return Marshal.PtrToStringUTF8(p) ?? "";
    }

    public long ReadInt64()
    {
        long v;
        Check(Native.sd_bus_message_read_basic(Handle, (byte)'x', &v), "read an int64", expectValue: true);
        return v;
    }

    public uint ReadUInt32()
    {
        uint v;
        Check(Native.sd_bus_message_read_basic(Handle, (byte)'u', &v), "read a uint32", expectValue: true);
        return v;
    }

    public ulong ReadUInt64()
    {
        ulong v;
        Check(Native.sd_bus_message_read_basic(Handle, (byte)'t', &v), "read a uint64", expectValue: true);
        return v;
    }

    public bool ReadBool()
    {
        int v;
        Check(Native.sd_bus_message_read_basic(Handle, (byte)'b', &v), "read a boolean", expectValue: true);
        return v != 0;
    }

    public List<string> ReadStrings()
    {
        var list = new List<string>();
        EnterContainer('a', "s");
        while (Native.sd_bus_message_peek_type(Handle, out _, out _) > 0)
        {
            list.Add(ReadString());
        }
        ExitContainer();
        return list;
    }

    public Dictionary<string, string> ReadDictionary()
    {
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        EnterContainer('a', "{ss}");
        while (TryEnterContainer('e', "ss"))
        {
            var key = ReadString();
            map[key] = ReadString();
            ExitContainer();
        }
        ExitContainer();
        return map;
    }

    public void EnterContainer(char type, string contents)
    {
        if (!TryEnterContainer(type, contents))
        {
            throw new BusException(BusErrors.InvalidArgs, $"expected {type}({contents}), found the end of the message");
        }
    }

    /// <summary>Enters the next container; false at the end of the enclosing array.</summary>
    public bool TryEnterContainer(char type, string contents)
    {
        var r = Native.sd_bus_message_enter_container(Handle, (byte)type, contents);
        Check(r, $"enter container {type}({contents})");
        return r > 0;
    }

    public void ExitContainer() => Check(Native.sd_bus_message_exit_container(Handle), "exit a container");

    /// <summary>
    /// D-Bus strings are UTF-8 without NUL: a NUL (which C would take for the end) becomes U+FFFD, as do lone surrogates
    /// (the encoder's replacement), so whatever text a component reports can always be sent.
    /// </summary>
    internal static byte[] Utf8Z(string value)
    {
        var clean = value.Contains('\0', StringComparison.Ordinal) ? value.Replace('\0', '\uFFFD') : value;
        var bytes = new byte[Encoding.UTF8.GetByteCount(clean) + 1];
        Encoding.UTF8.GetBytes(clean, bytes);
        return bytes;
    }

    private static void Check(int r, string what, bool expectValue = false)
    {
        if (r < 0)
        {
            throw new BusException(BusErrors.Failed, $"cannot {what}: {Errno.Describe(-r)}", -r);
        }
        if (expectValue && r == 0)
        {
            throw new BusException(BusErrors.InvalidArgs, $"cannot {what}: no more values in the message");
        }
    }
}
