using Bastion.Status;
using Tmds.DBus.Protocol;

namespace Bastion.Api;

/// <summary>Writes and reads the component struct <c>(ssssxxsa{ss})</c> of <see cref="BastionApi"/>.</summary>
public static class ComponentCodec
{
    public static void WriteArray(ref MessageWriter writer, IEnumerable<ComponentStatus> components)
    {
        var array = writer.WriteArrayStart(DBusType.Struct);
        foreach (var c in components)
        {
            Write(ref writer, c);
        }
        writer.WriteArrayEnd(array);
    }

    public static void Write(ref MessageWriter writer, ComponentStatus c)
    {
        writer.WriteStructureStart();
        writer.WriteString(Text(c.Kind));
        writer.WriteString(Text(c.Name));
        writer.WriteString(Text(c.State));
        writer.WriteString(Text(c.Reason));
        writer.WriteInt64(ToMicroseconds(c.Since));
        writer.WriteInt64(c.Starts);
        writer.WriteString(Text(c.Instance));
        var details = writer.WriteDictionaryStart();
        foreach (var (key, value) in c.Details.OrderBy(d => d.Key, StringComparer.Ordinal))
        {
            writer.WriteDictionaryEntryStart();
            writer.WriteString(Text(key));
            writer.WriteString(Text(value));
        }
        writer.WriteDictionaryEnd(details);
    }

    public static List<ComponentStatus> ReadArray(ref Reader reader)
    {
        var list = new List<ComponentStatus>();
        var end = reader.ReadArrayStart(DBusType.Struct);
        while (reader.HasNext(end))
        {
            list.Add(Read(ref reader));
        }
        return list;
    }

    public static ComponentStatus Read(ref Reader reader)
    {
        reader.AlignStruct();
        return new ComponentStatus
        {
            Kind = reader.ReadString(),
            Name = reader.ReadString(),
            State = reader.ReadString(),
            Reason = reader.ReadString(),
            Since = FromMicroseconds(reader.ReadInt64()),
            Starts = reader.ReadInt64(),
            Instance = reader.ReadString(),
            Details = ReadDetails(ref reader),
        };
    }

    private static Dictionary<string, string> ReadDetails(ref Reader reader)
    {
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        var end = reader.ReadDictionaryStart();
        while (reader.HasNext(end))
        {
            reader.AlignStruct();
            var key = reader.ReadString();
            map[key] = reader.ReadString();
        }
        return map;
    }

    /// <summary>
    /// D-Bus strings are UTF-8 without NUL: a NUL becomes U+FFFD (as lone surrogates do in the UTF-8 encoder), so whatever
    /// text a component reports can always be sent — a string the bus refuses would cost the daemon its connection.
    /// </summary>
    public static string Text(string value) => value.Contains('\0', StringComparison.Ordinal) ? value.Replace('\0', '\uFFFD') : value;

    /// <summary>Microseconds since the Unix epoch, as D-Bus APIs (and systemd's) express times.</summary>
    public static long ToMicroseconds(DateTimeOffset time) => (time.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks) / 10;

    public static DateTimeOffset FromMicroseconds(long microseconds) => DateTimeOffset.UnixEpoch.AddTicks(microseconds * 10);
}
