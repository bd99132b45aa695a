using Bastion.Api;
using Tmds.DBus.Protocol;

namespace Bastion.Daemon.DBus;

/// <summary>Who is calling, as the bus daemon says.</summary>
internal static class CallerCredentials
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Asks the bus who <paramref name="sender"/> is: org.freedesktop.DBus.GetConnectionCredentials, answered by dbus-daemon
    /// itself from what the kernel told it when the caller connected (SO_PEERCRED). Never throws: what could not be had is
    /// null, with the reason. Must not be awaited inside a method handler's synchronous part: the reply arrives on the same
    /// connection, whose reading waits for that part to end.
    /// </summary>
    public static async Task<BusCaller> QueryAsync(DBusConnection connection, string sender, TimeProvider time)
    {
        try
        {
            var (uid, pid) = await connection.CallMethodAsync(Request(connection, sender), static (Message m, object? _) => Read(m))
                .WaitAsync(Patience, time).ConfigureAwait(false);
            return new BusCaller(sender, uid, pid, uid is null || pid is null ? "the bus did not give both its uid and pid" : null);
        }
        catch (DBusErrorReplyException e) when (e.ErrorName == BusErrors.NameHasNoOwner)
        {
            // A caller that did not wait for the reply can be gone before we ask.
            return new BusCaller(sender, null, null, "it left the bus before it could be identified");
        }
#pragma warning disable CA1031 // Any failure to identify is an unidentified caller, never a crash of the handler.
        catch (Exception e)
#pragma warning restore CA1031
        {
            return new BusCaller(sender, null, null, "the bus did not give its credentials: " + (e is DBusErrorReplyException r ? r.ErrorMessage : e.Message));
        }
    }

    private static MessageBuffer Request(DBusConnection connection, string sender)
    {
        using var writer = connection.GetMessageWriter();
        writer.WriteMethodCallHeader(destination: "org.freedesktop.DBus", path: "/org/freedesktop/DBus",
            @interface: "org.freedesktop.DBus", member: "GetConnectionCredentials", signature: "s");
        writer.WriteString(sender);
        return writer.CreateMessage();
    }

    private static (uint? Uid, uint? Pid) Read(Message message)
    {
        var reader = message.GetBodyReader();
        uint? uid = null, pid = null;
        var end = reader.ReadDictionaryStart();
        while (reader.HasNext(end))
        {
            reader.AlignStruct();
            var key = reader.ReadString();
            var value = reader.ReadVariantValue();
            if (value.Type == VariantValueType.UInt32)
            {
                if (key == "UnixUserID")
                {
                    uid = value.GetUInt32();
                }
                else if (key == "ProcessID")
                {
                    pid = value.GetUInt32();
                }
            }
        }
        return (uid, pid);
    }
}
