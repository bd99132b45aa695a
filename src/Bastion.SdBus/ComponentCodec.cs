using Bastion.Status;

namespace Bastion.SdBus;

/// <summary>Writes and reads the component struct <c>(ssssxxsa{ss})</c> of <see cref="BastionApi"/>.</summary>
public static class ComponentCodec
{
    public static void WriteArray(BusMessage message, IEnumerable<ComponentStatus> components)
    {
        message.OpenContainer('a', "(" + BastionApi.ComponentSignature + ")");
        foreach (var c in components)
        {
            Write(message, c);
        }
        message.CloseContainer();
    }

    public static void Write(BusMessage message, ComponentStatus c)
    {
        message.OpenContainer('r', BastionApi.ComponentSignature)
            .Append(c.Kind).Append(c.Name).Append(c.State).Append(c.Reason)
            .Append(ToMicroseconds(c.Since)).Append(c.Starts).Append(c.Instance)
            .AppendDictionary(c.Details.OrderBy(d => d.Key, StringComparer.Ordinal))
            .CloseContainer();
    }

    public static List<ComponentStatus> ReadArray(BusMessage message)
    {
        var list = new List<ComponentStatus>();
        message.EnterContainer('a', "(" + BastionApi.ComponentSignature + ")");
        while (message.TryEnterContainer('r', BastionApi.ComponentSignature))
        {
            list.Add(ReadFields(message));
            message.ExitContainer();
        }
        message.ExitContainer();
        return list;
    }

    public static ComponentStatus Read(BusMessage message)
    {
        message.EnterContainer('r', BastionApi.ComponentSignature);
        var c = ReadFields(message);
        message.ExitContainer();
        return c;
    }

    private static ComponentStatus ReadFields(BusMessage message) => new()
    {
        Kind = message.ReadString(),
        Name = message.ReadString(),
        State = message.ReadString(),
        Reason = message.ReadString(),
        Since = FromMicroseconds(message.ReadInt64()),
        Starts = message.ReadInt64(),
        Instance = message.ReadString(),
        Details = message.ReadDictionary(),
    };

    /// <summary>Microseconds since the Unix epoch, as D-Bus APIs (and systemd's) express times.</summary>
    public static long ToMicroseconds(DateTimeOffset time) => (time.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks) / 10;

    public static DateTimeOffset FromMicroseconds(long microseconds) => DateTimeOffset.UnixEpoch.AddTicks(microseconds * 10);
}
