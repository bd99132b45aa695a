using System.Runtime.InteropServices;

namespace Bastion.Daemon.Systemd;

/// <summary>CLOCK_MONOTONIC in microseconds, as systemd wants it in <c>MONOTONIC_USEC=</c> next to <c>RELOADING=1</c>.</summary>
internal static partial class MonotonicClock
{
    private const int ClockMonotonic = 1;

    [StructLayout(LayoutKind.Sequential)]
    private struct Timespec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [LibraryImport("libc", EntryPoint = "clock_gettime")]
    private static partial int ClockGetTime(int clock, out Timespec time);

    public static long NowMicroseconds()
    {
        if (ClockGetTime(ClockMonotonic, out var ts) != 0)
        {
            throw new InvalidOperationException("clock_gettime(CLOCK_MONOTONIC) failed: " + Marshal.GetLastPInvokeErrorMessage());
        }
        return (ts.Seconds * 1_000_000) + (ts.Nanoseconds / 1_000);
    }
}
