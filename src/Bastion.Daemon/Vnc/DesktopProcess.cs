using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;

namespace Bastion.Daemon.Vnc;

/// <summary>
/// One process of the emergency desktop (Xvnc or the session), started through <c>setsid</c> so it runs in its own session
/// and process group (a Ctrl-C or SIGHUP meant for bastiond's terminal does not reach it; bastiond stops it in order),
/// and through <c>setpriv --pdeathsig KILL</c> (util-linux) so that it dies with bastiond — also when bastiond is SIGKILLed
/// outside systemd's cgroup cleanup (OOM killer, a crash): no orphaned desktop blocks the next bastiond.
/// <c>setsid</c> and <c>setpriv</c> exec in place (the caller is not a group leader), so the pid we hold is the program's own.
/// Stopped by pid only: SIGTERM, then SIGKILL after <see cref="KillAfter"/>. Its output goes line by line to a callback.
/// </summary>
/// <remarks>
/// The kernel sends the parent-death signal when the <em>thread</em> that forked the child ends, not the process: a
/// thread-pool thread that retires after idling would kill the desktop. So every desktop process is forked by one
/// dedicated thread that lives as long as bastiond (<see cref="Spawner"/>).
/// </remarks>
internal sealed partial class DesktopProcess : IDesktopProcess, IDisposable
{
    public static readonly TimeSpan KillAfter = TimeSpan.FromSeconds(5);
    private const string SetsidPath = "/usr/bin/setsid";
    private const string SetprivPath = "/usr/bin/setpriv";
    private const int KeepLines = 16;
    private const int SIGTERM = 15;
    private const int SIGKILL = 9;

    private readonly Process _process;
    private readonly Queue<string> _last = new();
    private readonly Lock _lock = new();

    private DesktopProcess(Process process, Task exited)
    {
        _process = process;
        Exited = exited;
        Pid = process.Id;
        StartTime = ProcessStartTime(Pid);
    }

    public int Pid { get; }

    /// <summary>The kernel's start time of the process (clock ticks since boot, /proc/PID/stat field 22): with the pid, its identity.</summary>
    public long? StartTime { get; }

    /// <summary>Whether it dies with bastiond (setpriv was there to arrange it).</summary>
    public bool DiesWithDaemon { get; private init; }

    /// <summary>Completes when the process has exited (never faults).</summary>
    public Task Exited { get; }

    public bool HasExited => Exited.IsCompleted;

    /// <summary>"exited with code 1", "exited with signal 9" (.NET reports a death by signal N as 128+N).</summary>
    public string ExitDescription
    {
        get
        {
            if (!HasExited)
            {
                return "still running";
            }
            var code = _process.ExitCode;
            return code > 128 && code <= 128 + 64
                ? "exited with signal " + (code - 128).ToString(CultureInfo.InvariantCulture)
                : "exited with code " + code.ToString(CultureInfo.InvariantCulture);
        }
    }

    /// <summary>The last lines of output (printable, shortened).</summary>
    public IReadOnlyList<string> LastLines
    {
        get { lock (_lock) { return [.. _last]; } }
    }

    /// <exception cref="System.ComponentModel.Win32Exception">The program cannot be started (missing, not executable).</exception>
    /// <param name="file">The program.</param>
    /// <param name="arguments">Its arguments.</param>
    /// <param name="environment">Its whole environment.</param>
    /// <param name="onLine">Gets each line of output (standard error, and standard output unless <paramref name="onStdout"/> is set).</param>
    /// <param name="onStdout">When set, standard output lines go here: Xvnc's -displayfd 1.</param>
    public static DesktopProcess Start(string file, IEnumerable<string> arguments, IReadOnlyDictionary<string, string> environment, Action<string> onLine,
        Action<string>? onStdout = null)
    {
        var diesWithDaemon = File.Exists(SetprivPath);
        var psi = new ProcessStartInfo(File.Exists(SetsidPath) ? SetsidPath : "setsid")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true, // /dev/null-like: closed below, nothing of bastiond's stdin reaches the desktop
            UseShellExecute = false,
            WorkingDirectory = "/",
        };
        psi.ArgumentList.Add("--");
        if (diesWithDaemon)
        {
            psi.ArgumentList.Add(SetprivPath);
            psi.ArgumentList.Add("--pdeathsig");
            psi.ArgumentList.Add("KILL");
            psi.ArgumentList.Add("--");
        }
        psi.ArgumentList.Add(file);
        foreach (var argument in arguments)
        {
            psi.ArgumentList.Add(argument);
        }
        // A clean environment: nothing of bastiond's (NOTIFY_SOCKET, WATCHDOG_*, INVOCATION_ID…) reaches the desktop.
        psi.Environment.Clear();
        foreach (var (key, value) in environment)
        {
            psi.Environment[key] = value;
        }
        if (file.Contains('/', StringComparison.Ordinal) && !File.Exists(file)) // a bare name is looked up in PATH by setsid
        {
            throw new System.ComponentModel.Win32Exception(2, $"{file} does not exist");
        }
        var process = Spawner.Start(psi);
        var started = new DesktopProcess(process, process.WaitForExitAsync()) { DiesWithDaemon = diesWithDaemon };
        process.StandardInput.Close();
        process.OutputDataReceived += (_, e) => started.Line(e.Data, onStdout ?? onLine);
        process.ErrorDataReceived += (_, e) => started.Line(e.Data, onLine);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return started;
    }

    private void Line(string? line, Action<string> onLine)
    {
        if (string.IsNullOrWhiteSpace(line))
        {
            return;
        }
        var text = Printable(line);
        lock (_lock)
        {
            _last.Enqueue(text);
            while (_last.Count > KeepLines)
            {
                _last.Dequeue();
            }
        }
        onLine(text);
    }

    /// <summary>SIGTERM, then SIGKILL if it is still there after <see cref="KillAfter"/>. True when SIGKILL was needed.</summary>
    public async Task<bool> StopAsync(TimeProvider time)
    {
        if (HasExited)
        {
            return false;
        }
        SignalIfNotReaped(SIGTERM);
        try
        {
            await Exited.WaitAsync(KillAfter, time).ConfigureAwait(false);
            return false;
        }
        catch (TimeoutException)
        {
            SignalIfNotReaped(SIGKILL);
            await Exited.ConfigureAwait(false);
            return true;
        }
    }

    /// <summary>
    /// By pid, only while the runtime has not reaped it: <see cref="Process.HasExited"/> asks the runtime's own bookkeeping
    /// (which reaps our children), whereas <see cref="Exited"/> completes a moment later on another thread — in that moment
    /// the pid is free and could, in theory, already be someone else's.
    /// </summary>
    private void SignalIfNotReaped(int signal)
    {
        if (!_process.HasExited)
        {
            _ = Kill(Pid, signal);
        }
    }

    /// <summary>Waits until the output pipes are drained (after exit), briefly.</summary>
    public void Flush()
    {
        if (HasExited)
        {
            try
            {
                _process.WaitForExit(1000);
            }
            catch (InvalidOperationException)
            {
            }
        }
    }

    public void Dispose() => _process.Dispose();

    /// <summary>Field 22 of /proc/PID/stat (after the parenthesised command, which may hold spaces); null when unreadable.</summary>
    public static long? ProcessStartTime(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            // fields[0] is field 3 (state): field 22 is fields[19].
            return fields.Length > 19 && long.TryParse(fields[19], NumberStyles.None, CultureInfo.InvariantCulture, out var ticks) ? ticks : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>Sends a signal by pid (a leftover proven ours); false when there is no such process.</summary>
    public static bool Signal(int pid, bool kill) => Kill(pid, kill ? SIGKILL : SIGTERM) == 0;

    /// <summary>
    /// Forks every desktop process from one thread that lives as long as bastiond (see the remarks on the class). Process-wide
    /// on purpose: the parent-death signal is bound to a thread of this process, whatever component asks.
    /// </summary>
    private static class Spawner
    {
        private static readonly System.Collections.Concurrent.BlockingCollection<(ProcessStartInfo Info, TaskCompletionSource<Process> Done)> Requests = [];

        static Spawner()
        {
            var thread = new Thread(Run) { IsBackground = true, Name = "bastion-desktop-spawner" };
            thread.Start();
        }

        public static Process Start(ProcessStartInfo info)
        {
            var done = new TaskCompletionSource<Process>(TaskCreationOptions.RunContinuationsAsynchronously);
            Requests.Add((info, done));
            return done.Task.GetAwaiter().GetResult(); // Process.Start is quick (fork+exec); the caller's thread just waits for it
        }

        private static void Run()
        {
            foreach (var (info, done) in Requests.GetConsumingEnumerable())
            {
                try
                {
                    done.TrySetResult(Process.Start(info) ?? throw new System.ComponentModel.Win32Exception($"cannot start {info.FileName}"));
                }
#pragma warning disable CA1031 // handed to the caller, who sees it as if it had called Process.Start itself
                catch (Exception e)
#pragma warning restore CA1031
                {
                    done.TrySetException(e);
                }
            }
        }
    }

    private static string Printable(string line)
    {
        var sb = new StringBuilder(Math.Min(line.Length, 200));
        foreach (var c in line)
        {
            if (sb.Length == 200)
            {
                sb.Append('…');
                break;
            }
            sb.Append(c == '\t' ? ' ' : char.IsControl(c) ? '?' : c);
        }
        return sb.ToString().Trim();
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}
