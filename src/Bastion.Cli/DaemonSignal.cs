using System.Globalization;
using System.Runtime.InteropServices;

namespace Bastion.Cli;

/// <summary>
/// The running bastiond named by the status file, held so that a signal reaches that very process. A pidfd is opened
/// first and the process checked after: if the pid is reused in between, the check sees the newcomer and refuses, or the
/// signal goes to the exited process's pidfd and fails with ESRCH — it never reaches a stranger. Without pidfd
/// (glibc before 2.36, kernel before 5.3) it falls back to <c>kill(2)</c>, where that window is microseconds wide.
/// </summary>
internal sealed class DaemonSignal : IDisposable
{
    private const string StartIt = "start it with: systemctl start bastion";

    private readonly TimeProvider _time;
    private int _pidfd;

    private DaemonSignal(int pid, int pidfd, TimeProvider time)
    {
        Pid = pid;
        _pidfd = pidfd;
        _time = time;
    }

    public int Pid { get; }

    private string PidText => Pid.ToString(CultureInfo.InvariantCulture);

    /// <summary>The bastiond behind <paramref name="pid"/>; exit code 3 when that pid is gone or is not bastiond.</summary>
    public static DaemonSignal Open(int pid, string statusPath, TimeProvider time)
    {
        var pidText = pid.ToString(CultureInfo.InvariantCulture);
        if (pid <= 0)
        {
            throw new CommandException(ExitCodes.DaemonUnreachable, $"{statusPath} names no valid pid ({pidText}) — is bastiond running? (systemctl status bastion)");
        }
        var pidfd = OpenPidfd(pid, out var gone);
        var target = new DaemonSignal(pid, pidfd, time);
        try
        {
            var process = gone ? null : DaemonProcess.Find(pid, time);
            if (process is null && DaemonProcess.ExistsButHidden(pid))
            {
                throw new CommandException(ExitCodes.Failed,
                    $"pid {pidText} from {statusPath} exists but is hidden from this user (/proc hidepid) and cannot be checked"
                    + " — run as root: sudo bastionctl reload");
            }
            if (process is null || process.IsZombie)
            {
                throw new CommandException(ExitCodes.DaemonUnreachable,
                    $"bastiond is not running: pid {pidText} from {statusPath} is gone — {StartIt}");
            }
            if (!process.IsBastiond)
            {
                throw new CommandException(ExitCodes.DaemonUnreachable,
                    $"bastiond is not running: pid {pidText} from {statusPath} is now {process.Describe()}, not bastiond,"
                    + $" so the status file is stale; not sending it SIGHUP — {StartIt}");
            }
            return target;
        }
        catch
        {
            target.Dispose();
            throw;
        }
    }

    /// <summary>Still there and still bastiond (an exited daemon's pid may already belong to someone else).</summary>
    public bool IsAlive =>
        DaemonProcess.Find(Pid, _time) is { IsZombie: false, IsBastiond: true };

    /// <summary>SIGHUP: bastiond re-reads its config.</summary>
    public void SendHangup()
    {
        var result = _pidfd >= 0
            ? Libc.PidfdSendSignal(_pidfd, Libc.SIGHUP, IntPtr.Zero, 0)
            : Libc.Kill(Pid, Libc.SIGHUP);
        if (result == 0)
        {
            return;
        }
        var errno = Marshal.GetLastPInvokeError();
        throw errno switch
        {
            Libc.ESRCH => new CommandException(ExitCodes.DaemonUnreachable,
                $"bastiond (pid {PidText}) exited before it could be sent SIGHUP — {StartIt}"),
            Libc.EPERM => new CommandException(ExitCodes.Failed,
                $"not allowed to send SIGHUP to bastiond (pid {PidText}) — run as root: sudo bastionctl reload"),
            _ => new CommandException(ExitCodes.Failed,
                $"sending SIGHUP to bastiond (pid {PidText}) failed: {Marshal.GetPInvokeErrorMessage(errno)}"),
        };
    }

    public void Dispose()
    {
        if (_pidfd >= 0)
        {
            _ = Libc.Close(_pidfd);
            _pidfd = -1;
        }
    }

    /// <summary>A pidfd, or -1 when pidfds are unavailable here or the process does not exist (<paramref name="gone"/>).</summary>
    private static int OpenPidfd(int pid, out bool gone)
    {
        gone = false;
        try
        {
            var fd = Libc.PidfdOpen(pid, 0);
            if (fd < 0)
            {
                gone = Marshal.GetLastPInvokeError() == Libc.ESRCH;
            }
            return fd;
        }
        catch (EntryPointNotFoundException)
        {
            return -1;
        }
    }
}
