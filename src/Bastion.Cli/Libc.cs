using System.Runtime.InteropServices;

namespace Bastion.Cli;

/// <summary>The few libc calls .NET has no API for: sending a signal other than SIGKILL, and the kernel's clock tick.</summary>
internal static partial class Libc
{
    private const string Library = "libc";

    public const int SIGHUP = 1;
    public const int EPERM = 1;
    public const int ESRCH = 3;
    public const int ENOSYS = 38;
    private const int SC_CLK_TCK = 2;

    /// <summary>glibc 2.36+; the fd refers to this very process even if its pid is later reused.</summary>
    [LibraryImport(Library, EntryPoint = "pidfd_open", SetLastError = true)]
    public static partial int PidfdOpen(int pid, uint flags);

    [LibraryImport(Library, EntryPoint = "pidfd_send_signal", SetLastError = true)]
    public static partial int PidfdSendSignal(int pidfd, int signal, IntPtr info, uint flags);

    [LibraryImport(Library, EntryPoint = "kill", SetLastError = true)]
    public static partial int Kill(int pid, int signal);

    [LibraryImport(Library, EntryPoint = "close", SetLastError = true)]
    public static partial int Close(int fd);

    [LibraryImport(Library, EntryPoint = "sysconf", SetLastError = true)]
    private static partial long Sysconf(int name);

    /// <summary>Clock ticks per second, the unit of <c>/proc/PID/stat</c> times (USER_HZ, 100 on every common architecture).</summary>
    public static long ClockTicksPerSecond()
    {
        var ticks = Sysconf(SC_CLK_TCK);
        return ticks > 0 ? ticks : 100;
    }
}
