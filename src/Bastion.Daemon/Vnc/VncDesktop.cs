// CA1873: these log calls run once per state change or command, never in a hot loop; the cost is irrelevant.
#pragma warning disable CA1873

using System.Globalization;
using System.Net.Sockets;
using Bastion.Config;
using Bastion.Vnc;
using Microsoft.Extensions.Logging;

namespace Bastion.Daemon.Vnc;

/// <summary>
/// The emergency desktop's processes: Xvnc on display :N, reachable only through its Unix socket in the runtime dir (no TCP,
/// an X cookie, VNC authentication with the password file, always shared), and the session command on that display.
/// Knows how to start and stop them and why a start failed; the policy of when and how often is <see cref="VncComponent"/>'s.
/// </summary>
internal sealed class VncDesktop(VncConfig config, PathsConfig paths, string passwordFile, ILogger logger) : IDesktop
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(20);
    private static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(3);
    private const string SafePath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

    public string Directory { get; } = VncPaths.RuntimeDirectory(paths);
    public string Socket { get; } = VncPaths.Socket(paths);
    public string XAuthorityFile { get; } = VncPaths.XAuthorityFile(paths);
    /// <summary>How many displays after the configured one are tried when it is taken (a squatted lock or socket).</summary>
    private const int DisplaysToTry = 16;

    /// <summary>The display Xvnc runs on (the configured one unless it was taken); the configured one before any start.</summary>
    public int Display { get; private set; } = config.Display;

    /// <summary>Pid files that prove a leftover process ours: "PID STARTTIME" (see <see cref="ReclaimLeftoversAsync"/>).</summary>
    private string XvncPidFile => Path.Combine(Directory, "xvnc.pid");
    private string SessionPidFile => Path.Combine(Directory, "session.pid");

    public DesktopProcess? Xvnc { get; private set; }
    public DesktopProcess? Session { get; private set; }

    IDesktopProcess? IDesktop.Xvnc => Xvnc;
    IDesktopProcess? IDesktop.Session => Session;

    void IDesktop.StartSession() => StartSession();

    /// <summary>
    /// Starts Xvnc and waits until the RFB probe says Up. Throws <see cref="DesktopStartException"/> with a reason an admin can
    /// act on (display in use, stale lock, an orphaned Xvnc of ours, missing binary, not answering).
    /// </summary>
    public async Task<RfbProbeResult> StartXvncAsync(string password, TimeProvider time, CancellationToken cancellationToken)
    {
        PrepareDirectory();
        await ReclaimLeftoversAsync(time, cancellationToken).ConfigureAwait(false);
        if (await OrphanHoldingSocketAsync(cancellationToken).ConfigureAwait(false) is { } orphan)
        {
            throw new DesktopStartException(orphan);
        }
        TryDelete(Socket); // ours (our private directory): a leftover of a crashed run that nobody answers on
        var cookie = XAuthority.NewCookie(); // a fresh cookie for every Xvnc
        var xvnc = await StartOnFreeDisplayAsync(cookie, time, cancellationToken).ConfigureAwait(false);
        var deadline = time.GetUtcNow() + StartTimeout;
        RfbProbeResult? last = null;
        while (true)
        {
            if (xvnc.HasExited)
            {
                xvnc.Flush();
                throw new DesktopStartException(WhyXvncFailed(xvnc, Display));
            }
            if (File.Exists(Socket))
            {
                last = await ProbeAsync(password, time, cancellationToken).ConfigureAwait(false);
                if (last.Health == RfbHealth.Up)
                {
                    return last;
                }
                if (last.Health == RfbHealth.AuthBroken)
                {
                    throw new DesktopStartException($"Xvnc on :{Display} runs but VNC authentication fails: {last.Detail} — check the password file {passwordFile}");
                }
            }
            if (time.GetUtcNow() > deadline)
            {
                throw new DesktopStartException($"Xvnc (pid {xvnc.Pid}) did not answer on {Socket} within {Durations.Format(StartTimeout)}: {last?.Detail ?? "the socket never appeared"}");
            }
            await Task.WhenAny(xvnc.Exited, Task.Delay(TimeSpan.FromMilliseconds(100), time, cancellationToken)).ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested();
        }
    }

    /// <summary>
    /// Starts Xvnc on the configured display, or — when that one is taken (another X server, or anyone's squatted lock file
    /// or abstract socket @/tmp/.X11-unix/XN) — on the next free one of <see cref="DisplaysToTry"/>. <c>-displayfd 1</c>:
    /// Xvnc says on its standard output which display it serves once it listens, and with it ignores lock files (which any
    /// local user can create in /tmp with a live pid of theirs); a display whose socket is taken fails at once.
    /// </summary>
    private async Task<DesktopProcess> StartOnFreeDisplayAsync(byte[] cookie, TimeProvider time, CancellationToken cancellationToken)
    {
        string? firstRefusal = null;
        for (var i = 0; i < DisplaysToTry; i++)
        {
            var display = (config.Display + i) % 1000;
            WriteCookie(display, cookie);
            VncLog.XvncStarting(logger, config.Executable, display, Socket);
            var announced = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
            DesktopProcess xvnc;
            try
            {
                xvnc = DesktopProcess.Start(config.Executable, XvncArguments(display), CleanEnvironment(), XvncLine, line =>
                {
                    if (int.TryParse(line.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var n))
                    {
                        announced.TrySetResult(n);
                    }
                });
            }
            catch (System.ComponentModel.Win32Exception e)
            {
                throw new DesktopStartException($"cannot start {config.Executable}: {e.Message} (install it: apt-get install tigervnc-standalone-server, or set vnc.executable)");
            }
            Xvnc = xvnc;
            WritePidFile(XvncPidFile, xvnc);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            var ready = await Task.WhenAny(announced.Task, xvnc.Exited, Task.Delay(StartTimeout, time, timeout.Token)).ConfigureAwait(false);
            await timeout.CancelAsync().ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested();
            if (ready == announced.Task)
            {
                Display = announced.Task.Result;
                if (Display != display)
                {
                    WriteCookie(Display, cookie);
                }
                return xvnc;
            }
            if (ready != xvnc.Exited)
            {
                return xvnc; // did not say which display in time: the probe loop below reports why it does not answer
            }
            xvnc.Flush();
            if (!DisplayTaken(xvnc))
            {
                throw new DesktopStartException(WhyXvncFailed(xvnc, display));
            }
            Xvnc = null;
            xvnc.Dispose();
            TryDelete(XvncPidFile);
            firstRefusal ??= $"display :{display} is taken: {XvncFailureLine(xvnc)}";
            VncLog.DisplayTaken(logger, display, XvncFailureLine(xvnc), (display + 1) % 1000);
        }
        throw new DesktopStartException($"{firstRefusal}; and so are the next {DisplaysToTry - 1} displays — pick another vnc.display "
            + "(ss -xlp | grep X11-unix shows who holds them)");
    }

    /// <summary>Xvnc gave up because the display's socket (or, without -displayfd, its lock) belongs to someone else.</summary>
    private static bool DisplayTaken(DesktopProcess xvnc) => xvnc.LastLines.Any(l =>
        l.Contains("Cannot establish any listening sockets", StringComparison.Ordinal)
        || l.Contains("Server is already active for display", StringComparison.Ordinal));

    private void WriteCookie(int display, byte[] cookie)
    {
        try
        {
            XAuthority.Write(XAuthorityFile, display, cookie);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new DesktopStartException($"cannot write the X cookie file {XAuthorityFile}: {e.Message} (check paths.runtimeDir)");
        }
    }

    /// <summary>
    /// Stops what an earlier bastiond of this runtime directory left running (it was killed where setpriv could not
    /// arrange the desktop's death, or before this version): the pid files in our private directory name the process and
    /// its kernel start time, so a pid reused by anyone else never matches. SIGTERM, SIGKILL after a moment.
    /// </summary>
    public async Task ReclaimLeftoversAsync(TimeProvider time, CancellationToken cancellationToken)
    {
        foreach (var (file, what) in new[] { (SessionPidFile, "session"), (XvncPidFile, "Xvnc") })
        {
            if (ReadPidFile(file) is not { } leftover)
            {
                continue;
            }
            if (DesktopProcess.ProcessStartTime(leftover.Pid) == leftover.StartTime && DesktopProcess.Signal(leftover.Pid, kill: false))
            {
                VncLog.LeftoverReclaimed(logger, what, leftover.Pid, Directory);
                var deadline = time.GetUtcNow() + TimeSpan.FromSeconds(3);
                while (DesktopProcess.ProcessStartTime(leftover.Pid) == leftover.StartTime && time.GetUtcNow() < deadline)
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(100), time, cancellationToken).ConfigureAwait(false);
                }
                if (DesktopProcess.ProcessStartTime(leftover.Pid) == leftover.StartTime)
                {
                    DesktopProcess.Signal(leftover.Pid, kill: true);
                    await Task.Delay(TimeSpan.FromMilliseconds(200), time, cancellationToken).ConfigureAwait(false);
                }
            }
            TryDelete(file);
        }
    }

    private static void WritePidFile(string path, DesktopProcess process)
    {
        if (process.StartTime is not { } started)
        {
            return;
        }
        try
        {
            File.WriteAllText(path, string.Create(CultureInfo.InvariantCulture, $"{process.Pid} {started}\n"));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Only a leftover could not be reclaimed after a crash; the start itself is fine.
        }
    }

    private static (int Pid, long StartTime)? ReadPidFile(string path)
    {
        try
        {
            var parts = File.ReadAllText(path).Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            return parts.Length == 2
                && int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var pid) && pid > 1
                && long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var start)
                ? (pid, start)
                : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>
    /// Who is logged in on the desktop, or null. A user is logged in when a <c>login</c> process under the session has a
    /// child — the shell it started after authentication (util-linux login waits for it). A login prompt alone is not a
    /// login, and a custom vnc.session without login never counts. The name comes from the shell's real uid.
    /// </summary>
    public string? LoggedInUser()
    {
        if (Session is not { HasExited: false } session)
        {
            return null;
        }
        var parents = new Dictionary<int, (int Parent, string Command)>();
        foreach (var entry in System.IO.Directory.EnumerateDirectories("/proc"))
        {
            if (int.TryParse(Path.GetFileName(entry), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) && Stat(pid) is { } stat)
            {
                parents[pid] = stat;
            }
        }
        var children = parents.ToLookup(p => p.Value.Parent, p => p.Key);
        var pending = new Stack<int>(children[session.Pid]);
        while (pending.Count > 0)
        {
            var pid = pending.Pop();
            foreach (var child in children[pid])
            {
                if (parents[pid].Command == "login")
                {
                    return UserOf(child);
                }
                pending.Push(child);
            }
        }
        return null;
    }

    private static (int Parent, string Command)? Stat(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/stat");
            var open = stat.IndexOf('(', StringComparison.Ordinal);
            var close = stat.LastIndexOf(')');
            var fields = stat[(close + 2)..].Split(' ');
            return int.TryParse(fields[1], NumberStyles.None, CultureInfo.InvariantCulture, out var parent) ? (parent, stat[(open + 1)..close]) : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentOutOfRangeException or IndexOutOfRangeException)
        {
            return null; // gone meanwhile
        }
    }

    private static string UserOf(int pid)
    {
        try
        {
            var uid = File.ReadLines($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/status")
                .First(l => l.StartsWith("Uid:", StringComparison.Ordinal))[4..].Trim().Split('\t', ' ')[0];
            var name = File.ReadLines("/etc/passwd").Select(l => l.Split(':')).FirstOrDefault(f => f.Length > 2 && f[2] == uid)?[0];
            return name ?? "uid " + uid;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException)
        {
            return "a user";
        }
    }

    public Task<RfbProbeResult> ProbeAsync(string password, TimeProvider time, CancellationToken cancellationToken) =>
        RfbProbe.ProbeUnixAsync(Socket, password, ProbeTimeout, time, cancellationToken);

    /// <summary>Starts the session command on the display. Throws <see cref="DesktopStartException"/> when it cannot start.</summary>
    public DesktopProcess StartSession()
    {
        var command = config.Session.IsEmpty ? [.. EmergencyConsole.Command(config.Geometry)] : config.Session.ToArray();
        var environment = CleanEnvironment();
        environment["DISPLAY"] = ":" + Display.ToString(CultureInfo.InvariantCulture);
        environment["XAUTHORITY"] = XAuthorityFile;
        try
        {
            var session = DesktopProcess.Start(command[0], command[1..], environment, line => VncLog.XvncOutput(logger, LogLevel.Debug, "session: " + line));
            Session = session;
            WritePidFile(SessionPidFile, session);
            VncLog.SessionStarted(logger, Display, session.Pid, string.Join(' ', command));
            return session;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new DesktopStartException($"cannot start the session command {command[0]}: {e.Message} (fix vnc.session)");
        }
    }

    public async Task StopSessionAsync(TimeProvider time)
    {
        if (Session is { } session)
        {
            Session = null;
            if (await session.StopAsync(time).ConfigureAwait(false))
            {
                VncLog.ProcessKilled(logger, "session", session.Pid, Durations.Format(DesktopProcess.KillAfter));
            }
            session.Dispose();
            TryDelete(SessionPidFile);
        }
    }

    /// <summary>Stops the session and Xvnc together (each SIGTERM, SIGKILL after 5 s): at most ~5 s in all.</summary>
    public async Task StopAsync(TimeProvider time)
    {
        var session = StopSessionAsync(time);
        var xvnc = Task.CompletedTask;
        if (Xvnc is { } x)
        {
            Xvnc = null;
            xvnc = StopXvncAsync(x, time);
        }
        await Task.WhenAll(session, xvnc).ConfigureAwait(false);
    }

    /// <summary>Forgets an Xvnc that exited by itself (after its exit has been reported).</summary>
    public void ForgetXvnc()
    {
        Xvnc?.Dispose();
        Xvnc = null;
        TryDelete(XvncPidFile);
    }

    private async Task StopXvncAsync(DesktopProcess xvnc, TimeProvider time)
    {
        if (await xvnc.StopAsync(time).ConfigureAwait(false))
        {
            VncLog.ProcessKilled(logger, "Xvnc", xvnc.Pid, Durations.Format(DesktopProcess.KillAfter));
        }
        xvnc.Dispose();
        TryDelete(XvncPidFile);
    }

    private IEnumerable<string> XvncArguments(int display) =>
    [
        ":" + display.ToString(CultureInfo.InvariantCulture),
        "-displayfd", "1", // the display number on stdout once it listens; and no lock file, which anyone could squat
        "-auth", XAuthorityFile,
        "-nolisten", "tcp",
        "-rfbport", "-1",
        "-rfbunixpath", Socket,
        "-rfbunixmode", "0600",
        "-SecurityTypes", "VncAuth",
        "-PasswordFile", passwordFile,
        // Every connection comes from bastiond's relay: Xvnc's own blacklist would lock the real admin out after an
        // attacker's failures. The TLS endpoint rate-limits wrong passwords per client address instead.
        "-UseBlacklist=0",
        "-AlwaysShared",
        "-AcceptSetDesktopSize=0",
        "-geometry", config.Geometry,
        "-desktop", "Bastion emergency desktop on " + Environment.MachineName,
    ];

    private static Dictionary<string, string> CleanEnvironment()
    {
        var environment = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["PATH"] = SafePath,
            ["HOME"] = Environment.GetEnvironmentVariable("HOME") is { Length: > 0 } home ? home : "/",
        };
        foreach (var name in new[] { "LANG", "LC_ALL", "TZ" })
        {
            if (Environment.GetEnvironmentVariable(name) is { Length: > 0 } value)
            {
                environment[name] = value;
            }
        }
        return environment;
    }

    private void XvncLine(string line)
    {
        // Xvnc prints a date line before each burst of log lines; it says nothing by itself.
        var level = line.Contains("(EE)", StringComparison.Ordinal)
            || line.Contains("Fatal server error", StringComparison.Ordinal)
            || line.Contains("Server is already active", StringComparison.Ordinal)
            || line.Contains("Authentication failure", StringComparison.OrdinalIgnoreCase)
            || line.Contains("authentication failed", StringComparison.OrdinalIgnoreCase)
            ? LogLevel.Warning
            : LogLevel.Debug;
        VncLog.XvncOutput(logger, level, line);
    }

    private void PrepareDirectory()
    {
        // A symbolic link here would put the X cookie and Xvnc's socket wherever it points (and let whoever controls that
        // place swap the socket the endpoint relays admins to): only a real directory will do.
        if (new DirectoryInfo(Directory).LinkTarget is { } target)
        {
            throw new DesktopStartException($"{Directory} is a symbolic link (to {target}), not a directory; remove it (bastiond creates the directory itself, 0700)");
        }
        try
        {
            System.IO.Directory.CreateDirectory(Directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            // Explicit: an existing directory keeps its old mode, and mkdir's mode passes through the umask.
            File.SetUnixFileMode(Directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new DesktopStartException($"cannot create {Directory}: {e.Message} (check paths.runtimeDir)");
        }
    }

    /// <summary>
    /// An Xvnc that still answers on our socket was not started by this bastiond: one left over from a run that was killed
    /// (SIGKILL leaves children behind; under systemd KillMode=mixed kills the whole unit). Reported, never killed by us:
    /// only the admin can tell it is not somebody's live session.
    /// </summary>
    private async Task<string?> OrphanHoldingSocketAsync(CancellationToken cancellationToken)
    {
        if (!File.Exists(Socket))
        {
            return null;
        }
        using var probe = new System.Net.Sockets.Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(1));
            await probe.ConnectAsync(new UnixDomainSocketEndPoint(Socket), timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            return null; // nobody answers: a stale socket file, removed by the caller
        }
        var stop = $"find it with: ss -xlp | grep {Socket}, and stop it";
        return $"an Xvnc not started by this bastiond still answers on {Socket}: left over from an earlier bastiond that was killed "
            + $"without stopping it; {stop} — the desktop then starts by itself";
    }

    private static string WhyXvncFailed(DesktopProcess xvnc, int display) =>
        $"Xvnc on :{display.ToString(CultureInfo.InvariantCulture)} {xvnc.ExitDescription} while starting: {XvncFailureLine(xvnc)}";

    /// <summary>The line of Xvnc's output that says why it gave up.</summary>
    private static string XvncFailureLine(DesktopProcess xvnc)
    {
        var lines = xvnc.LastLines;
        return lines.LastOrDefault(l => l.Contains("(EE)", StringComparison.Ordinal) && l.Trim().Length > 5)?.Replace("(EE)", "", StringComparison.Ordinal).Trim()
            ?? lines.LastOrDefault(l => !l.StartsWith("(EE)", StringComparison.Ordinal)) ?? "no output";
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }
}

/// <summary>Xvnc or the session could not be started; the message says why and what to do.</summary>
internal sealed class DesktopStartException(string message) : Exception(message);
