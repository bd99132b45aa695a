using System.Runtime.InteropServices;

namespace Bastion.SdBus;

/// <summary>The sd-bus functions used, none of them variadic (a varargs call cannot be marshalled portably).</summary>
internal static unsafe partial class Native
{
    public const string Library = "libsystemd.so.0";

    [LibraryImport(Library)] public static partial int sd_bus_new(out nint bus);
    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)] public static partial int sd_bus_set_address(nint bus, string address);
    [LibraryImport(Library)] public static partial int sd_bus_set_bus_client(nint bus, int b);
    [LibraryImport(Library)] public static partial int sd_bus_start(nint bus);
    [LibraryImport(Library)] public static partial int sd_bus_open_system(out nint bus);
    [LibraryImport(Library)] public static partial int sd_bus_open_user(out nint bus);
    [LibraryImport(Library)] public static partial nint sd_bus_flush_close_unref(nint bus);
    [LibraryImport(Library)] public static partial int sd_bus_process(nint bus, nint ret);
    [LibraryImport(Library)] public static partial int sd_bus_get_fd(nint bus);
    [LibraryImport(Library)] public static partial int sd_bus_get_events(nint bus);
    [LibraryImport(Library)] public static partial int sd_bus_get_timeout(nint bus, out ulong usec);
    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int sd_bus_add_object_vtable(nint bus, out nint slot, string path, string iface, nint vtable, nint userdata);
    [LibraryImport(Library)] public static partial nint sd_bus_slot_unref(nint slot);
    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)] public static partial int sd_bus_request_name(nint bus, string name, ulong flags);
    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int sd_bus_emit_properties_changed_strv(nint bus, string path, string iface, nint names);

    [LibraryImport(Library)] public static partial int sd_bus_message_new_method_return(nint call, out nint reply);
    [LibraryImport(Library)] public static partial int sd_bus_reply_method_error(nint call, SdBusError* error);
    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int sd_bus_message_new_signal(nint bus, out nint message, string path, string iface, string member);
    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int sd_bus_message_new_method_call(nint bus, out nint message, string destination, string path, string iface, string member);
    [LibraryImport(Library)] public static partial int sd_bus_send(nint bus, nint message, nint cookie);
    [LibraryImport(Library)] public static partial int sd_bus_call(nint bus, nint message, ulong usec, SdBusError* error, out nint reply);
    [LibraryImport(Library)] public static partial nint sd_bus_message_ref(nint message);
    [LibraryImport(Library)] public static partial nint sd_bus_message_unref(nint message);
    [LibraryImport(Library)] public static partial nint sd_bus_message_get_member(nint message);
    [LibraryImport(Library)] public static partial nint sd_bus_message_get_sender(nint message);
    [LibraryImport(Library)] public static partial int sd_bus_message_append_basic(nint message, byte type, void* value);
    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int sd_bus_message_open_container(nint message, byte type, string contents);
    [LibraryImport(Library)] public static partial int sd_bus_message_close_container(nint message);
    [LibraryImport(Library)] public static partial int sd_bus_message_read_basic(nint message, byte type, void* value);
    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int sd_bus_message_enter_container(nint message, byte type, string contents);
    [LibraryImport(Library)] public static partial int sd_bus_message_exit_container(nint message);
    [LibraryImport(Library)] public static partial int sd_bus_message_peek_type(nint message, out byte type, out nint contents);

    // The caller's credentials (for the audit line of mutating calls). dbus-daemon attaches none to messages, so sd-bus asks
    // the bus (GetConnectionCredentials, one synchronous round trip to the bus daemon itself, never to another client).
    [LibraryImport(Library)] public static partial int sd_bus_query_sender_creds(nint call, ulong mask, out nint creds);
    [LibraryImport(Library)] public static partial int sd_bus_creds_get_euid(nint creds, out uint euid);
    [LibraryImport(Library)] public static partial int sd_bus_creds_get_pid(nint creds, out int pid);
    [LibraryImport(Library)] public static partial nint sd_bus_creds_unref(nint creds);
    public const ulong CredsPid = 1UL << 0;
    public const ulong CredsEuid = 1UL << 4;

    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int sd_bus_error_set(SdBusError* error, string name, string message);
    [LibraryImport(Library)] public static partial void sd_bus_error_free(SdBusError* error);

    // libc: the wake-up eventfd, poll and the monotonic clock sd-bus's timeouts are expressed in.
    [LibraryImport("libc", SetLastError = true)] public static partial int eventfd(uint initval, int flags);
    [LibraryImport("libc", SetLastError = true)] public static partial nint read(int fd, void* buffer, nuint count);
    [LibraryImport("libc", SetLastError = true)] public static partial nint write(int fd, void* buffer, nuint count);
    [LibraryImport("libc")] public static partial int close(int fd);
    [LibraryImport("libc", SetLastError = true)] public static partial int poll(PollFd* fds, nuint count, int timeoutMs);
    [LibraryImport("libc")] public static partial int clock_gettime(int clock, Timespec* time);

    public const int EfdCloexec = 0x80000;
    public const int EfdNonblock = 0x800;
    public const short PollIn = 0x1;
    public const int ClockMonotonic = 1;

    [StructLayout(LayoutKind.Sequential)]
    public struct PollFd
    {
        public int Fd;
        public short Events;
        public short Revents;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct Timespec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    public static ulong MonotonicMicroseconds()
    {
        Timespec t;
        _ = clock_gettime(ClockMonotonic, &t);
        return (ulong)t.Seconds * 1_000_000UL + (ulong)(t.Nanoseconds / 1000);
    }
}

/// <summary><c>sd_bus_error</c>: name, message, need_free (24 bytes on 64-bit).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct SdBusError
{
    public nint Name;
    public nint Message;
    public int NeedFree;
}
