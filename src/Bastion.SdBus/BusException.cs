using System.Runtime.InteropServices;

namespace Bastion.SdBus;

/// <summary>
/// A D-Bus error: its name (e.g. <c>org.freedesktop.DBus.Error.AccessDenied</c>) and message. Thrown by the client for an
/// error reply or a failed connection; thrown in a method handler, it becomes the error reply with that name.
/// </summary>
public sealed class BusException : Exception
{
    public BusException(string name, string message, int errno = 0) : base(message)
    {
        Name = name;
        Errno = errno;
    }

    public BusException() : this(BusErrors.Failed, "D-Bus call failed") { }

    public BusException(string message) : this(BusErrors.Failed, message) { }

    public BusException(string message, Exception inner) : base(message, inner) => Name = BusErrors.Failed;

    public string Name { get; }

    /// <summary>The errno sd-bus returned (positive), or 0.</summary>
    public int Errno { get; }
}

/// <summary>Standard error names used by this binding.</summary>
public static class BusErrors
{
    public const string Failed = "org.freedesktop.DBus.Error.Failed";
    public const string InvalidArgs = "org.freedesktop.DBus.Error.InvalidArgs";
    public const string AccessDenied = "org.freedesktop.DBus.Error.AccessDenied";
    public const string ServiceUnknown = "org.freedesktop.DBus.Error.ServiceUnknown";
    public const string NameHasNoOwner = "org.freedesktop.DBus.Error.NameHasNoOwner";
    public const string NoReply = "org.freedesktop.DBus.Error.NoReply";
    public const string Disconnected = "org.freedesktop.DBus.Error.Disconnected";
    public const string UnknownMethod = "org.freedesktop.DBus.Error.UnknownMethod";
}

internal static partial class Errno
{
    public const int ENOENT = 2;
    public const int EINTR = 4;
    public const int ENXIO = 6;
    public const int EAGAIN = 11;
    public const int EACCES = 13;
    public const int ECONNRESET = 104;
    public const int ENOTCONN = 107;
    public const int ECONNREFUSED = 111;

    public static string Describe(int errno) => $"{Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})";
}
