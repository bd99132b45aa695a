using System.Globalization;
using System.Runtime.InteropServices;

namespace Bastion.Cli;

/// <summary>
/// What <c>/proc</c> says about the process behind a pid: its name, command line, state and start time.
/// Read to decide whether the pid in status.json is still the daemon that wrote it.
/// </summary>
internal sealed record DaemonProcess(int Pid, string Name, IReadOnlyList<string> CommandLine, char State, DateTimeOffset StartedAt)
{
    public const string DaemonName = "bastiond";

    /// <summary>Exited but not yet reaped by its parent: as good as gone.</summary>
    public bool IsZombie => State is 'Z' or 'X' or 'x';

    /// <summary>
    /// The process is bastiond by name: <c>comm</c> (what the kernel took from the executable's file name), argv[0],
    /// or <c>dotnet [exec] bastiond.dll</c>.
    /// </summary>
    public bool IsBastiond
    {
        get
        {
            if (Name == DaemonName)
            {
                return true;
            }
            if (CommandLine.Count == 0)
            {
                return false;
            }
            if (Path.GetFileName(CommandLine[0]) == DaemonName)
            {
                return true;
            }
            return Path.GetFileName(CommandLine[0]) == "dotnet"
                && CommandLine.Skip(1).Take(2).Any(arg => Path.GetFileName(arg) == DaemonName + ".dll");
        }
    }

    /// <summary>How to name the process in a message: <c>'sleep' (pid 42)</c>.</summary>
    public string Describe() => $"'{Name}' (pid {Pid.ToString(CultureInfo.InvariantCulture)})";

    /// <summary>
    /// A process exists that <c>/proc</c> does not show us (mounted with <c>hidepid=</c>): <c>kill(pid, 0)</c> says EPERM,
    /// not ESRCH. Only meaningful after <see cref="Find"/> returned null.
    /// </summary>
    public static bool ExistsButHidden(int pid) =>
        pid > 0 && Libc.Kill(pid, 0) != 0 && Marshal.GetLastPInvokeError() == Libc.EPERM;

    /// <summary>The process behind <paramref name="pid"/>, or null when there is none (or it is hidden from us).</summary>
    public static DaemonProcess? Find(int pid, TimeProvider time)
    {
        if (pid <= 0)
        {
            return null;
        }
        var dir = "/proc/" + pid.ToString(CultureInfo.InvariantCulture);
        string stat;
        try
        {
            stat = File.ReadAllText(dir + "/stat");
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
        catch (IOException) when (!Directory.Exists(dir))
        {
            // ESRCH: it exited while we read.
            return null;
        }

        // "pid (comm) S ppid … starttime …": comm may hold spaces and parentheses, so split after the last ')'.
        var open = stat.IndexOf('(', StringComparison.Ordinal);
        var close = stat.LastIndexOf(')');
        if (open < 0 || close < open)
        {
            throw new IOException($"{dir}/stat is not in the expected format");
        }
        var name = stat[(open + 1)..close];
        var fields = stat[(close + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);

        // fields[0] is field 3 (state) of proc(5); starttime is field 22, in clock ticks since boot.
        var state = fields[0][0];
        var startTicks = long.Parse(fields[19], NumberStyles.None, CultureInfo.InvariantCulture);
        var startedAt = BootTime(time) + TimeSpan.FromSeconds((double)startTicks / Libc.ClockTicksPerSecond());

        return new DaemonProcess(pid, name, ReadCommandLine(dir), state, startedAt);
    }

    private static string[] ReadCommandLine(string dir)
    {
        try
        {
            return File.ReadAllText(dir + "/cmdline").Split('\0', StringSplitOptions.RemoveEmptyEntries);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Empty for zombies and kernel threads, unreadable under some hardened /proc mounts: the name is enough then.
            return [];
        }
    }

    /// <summary>Wall-clock time of boot: now minus <c>/proc/uptime</c> (CLOCK_BOOTTIME, so suspend is counted).</summary>
    private static DateTimeOffset BootTime(TimeProvider time)
    {
        var uptime = File.ReadAllText("/proc/uptime").Split(' ')[0];
        var seconds = double.Parse(uptime, NumberStyles.Float, CultureInfo.InvariantCulture);
        return time.GetUtcNow() - TimeSpan.FromSeconds(seconds);
    }
}
