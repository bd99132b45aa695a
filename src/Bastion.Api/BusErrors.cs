namespace Bastion.Api;

/// <summary>The standard D-Bus error names bastiond answers with and bastionctl tells apart.</summary>
public static class BusErrors
{
    public const string Failed = "org.freedesktop.DBus.Error.Failed";
    public const string InvalidArgs = "org.freedesktop.DBus.Error.InvalidArgs";
    public const string AccessDenied = "org.freedesktop.DBus.Error.AccessDenied";
    public const string ServiceUnknown = "org.freedesktop.DBus.Error.ServiceUnknown";
    public const string NameHasNoOwner = "org.freedesktop.DBus.Error.NameHasNoOwner";
    public const string NoReply = "org.freedesktop.DBus.Error.NoReply";
    public const string TimedOut = "org.freedesktop.DBus.Error.TimedOut";
    public const string NoServer = "org.freedesktop.DBus.Error.NoServer";
    public const string Disconnected = "org.freedesktop.DBus.Error.Disconnected";
    public const string UnknownMethod = "org.freedesktop.DBus.Error.UnknownMethod";
    public const string UnknownInterface = "org.freedesktop.DBus.Error.UnknownInterface";
    public const string UnknownObject = "org.freedesktop.DBus.Error.UnknownObject";
    public const string UnknownProperty = "org.freedesktop.DBus.Error.UnknownProperty";
    public const string PropertyReadOnly = "org.freedesktop.DBus.Error.PropertyReadOnly";

    /// <summary>
    /// A connection failure's message with the messages it wraps: the library wraps socket errors ("Connection refused")
    /// in its own exceptions, and the inner one is what tells an admin what is wrong.
    /// </summary>
    public static string DescribeChain(Exception e)
    {
        var message = e.Message;
        for (var inner = e.InnerException; inner is not null; inner = inner.InnerException)
        {
            if (!string.IsNullOrWhiteSpace(inner.Message) && !message.Contains(inner.Message, StringComparison.Ordinal))
            {
                message += ": " + inner.Message;
            }
        }
        return message;
    }
}

/// <summary>
/// A D-Bus error: its name and message. Thrown by bastionctl's client for an error reply or a failed connection; thrown in a
/// bastiond method handler, it becomes the error reply with that name.
/// </summary>
public sealed class BusException : Exception
{
    public BusException(string name, string message) : base(message) => Name = name;

    public BusException(string name, string message, Exception inner) : base(message, inner) => Name = name;

    public BusException() : this(BusErrors.Failed, "D-Bus call failed") { }

    public BusException(string message) : this(BusErrors.Failed, message) { }

    public BusException(string message, Exception inner) : base(message, inner) => Name = BusErrors.Failed;

    public string Name { get; }
}
