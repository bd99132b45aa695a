using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;

namespace Bastion.Daemon.Vnc;

/// <summary>
/// One process of the emergency desktop (Xvnc or the session), started through <c>setsid</c> so it runs in its own session
/// and process group (a Ctrl-C or SIGHUP meant for bastiond's terminal does not reach it; bastiond stops it in order).
/// <c>setsid</c> execs in place (its caller is not a group leader), so the pid we hold is the program's own.
/// Stopped by pid only: SIGTERM, then SIGKILL after <see cref="KillAfter"/>. Its output goes line by line to a callback.
/// </summary>
internal sealed partial class DesktopProcess : IDisposable
{
    public static readonly TimeSpan KillAfter = TimeSpan.FromSeconds(5);
    private const string SetsidPath = "/usr/bin/setsid";
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
    }

    public int Pid { get; }

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
    public static DesktopProcess Start(string file, IEnumerable<string> arguments, IReadOnlyDictionary<string, string> environment, Action<string> onLine)
    {
        var psi = new ProcessStartInfo(File.Exists(SetsidPath) ? SetsidPath : "setsid")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true, // /dev/null-like: closed below, nothing of bastiond's stdin reaches the desktop
            UseShellExecute = false,
            WorkingDirectory = "/",
        };
        psi.ArgumentList.Add("--");
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
        var process = Process.Start(psi) ?? throw new System.ComponentModel.Win32Exception($"cannot start {file}");
        var started = new DesktopProcess(process, process.WaitForExitAsync());
        process.StandardInput.Close();
        process.OutputDataReceived += (_, e) => started.Line(e.Data, onLine);
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
