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
internal sealed class VncDesktop(VncConfig config, PathsConfig paths, string passwordFile, ILogger logger)
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(20);
    private static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(3);
    private const string SafePath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

    public string Directory { get; } = VncPaths.RuntimeDirectory(paths);
    public string Socket { get; } = VncPaths.Socket(paths);
    public string XAuthorityFile { get; } = VncPaths.XAuthorityFile(paths);
    public int Display => config.Display;

    public DesktopProcess? Xvnc { get; private set; }
    public DesktopProcess? Session { get; private set; }

    /// <summary>
    /// Starts Xvnc and waits until the RFB probe says Up. Throws <see cref="DesktopStartException"/> with a reason an admin can
    /// act on (display in use, stale lock, an orphaned Xvnc of ours, missing binary, not answering).
    /// </summary>
    public async Task<RfbProbeResult> StartXvncAsync(string password, TimeProvider time, CancellationToken cancellationToken)
    {
        PrepareDirectory();
        if (await OrphanHoldingSocketAsync(cancellationToken).ConfigureAwait(false) is { } orphan)
        {
            throw new DesktopStartException(orphan);
        }
        TryDelete(Socket); // ours (our private directory): a leftover of a crashed run that nobody answers on
        try
        {
            XAuthority.Write(XAuthorityFile, config.Display, XAuthority.NewCookie()); // a fresh cookie for every Xvnc
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new DesktopStartException($"cannot write the X cookie file {XAuthorityFile}: {e.Message} (check paths.runtimeDir)");
        }
        VncLog.XvncStarting(logger, config.Executable, config.Display, Socket);
        DesktopProcess xvnc;
        try
        {
            xvnc = DesktopProcess.Start(config.Executable, XvncArguments(), CleanEnvironment(), XvncLine);
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new DesktopStartException($"cannot start {config.Executable}: {e.Message} (install it: apt-get install tigervnc-standalone-server, or set vnc.executable)");
        }
        Xvnc = xvnc;
        var deadline = time.GetUtcNow() + StartTimeout;
        RfbProbeResult? last = null;
        while (true)
        {
            if (xvnc.HasExited)
            {
                xvnc.Flush();
                throw new DesktopStartException(WhyXvncFailed(xvnc));
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
                    throw new DesktopStartException($"Xvnc on :{config.Display} runs but VNC authentication fails: {last.Detail} — check the password file {passwordFile}");
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

    public Task<RfbProbeResult> ProbeAsync(string password, TimeProvider time, CancellationToken cancellationToken) =>
        RfbProbe.ProbeUnixAsync(Socket, password, ProbeTimeout, time, cancellationToken);

    /// <summary>Starts the session command on the display. Throws <see cref="DesktopStartException"/> when it cannot start.</summary>
    public DesktopProcess StartSession()
    {
        var command = config.Session.ToArray();
        var environment = CleanEnvironment();
        environment["DISPLAY"] = ":" + config.Display.ToString(CultureInfo.InvariantCulture);
        environment["XAUTHORITY"] = XAuthorityFile;
        try
        {
            var session = DesktopProcess.Start(command[0], command[1..], environment, line => VncLog.XvncOutput(logger, LogLevel.Debug, "session: " + line));
            Session = session;
            VncLog.SessionStarted(logger, config.Display, session.Pid, string.Join(' ', command));
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
    }

    private async Task StopXvncAsync(DesktopProcess xvnc, TimeProvider time)
    {
        if (await xvnc.StopAsync(time).ConfigureAwait(false))
        {
            VncLog.ProcessKilled(logger, "Xvnc", xvnc.Pid, Durations.Format(DesktopProcess.KillAfter));
        }
        xvnc.Dispose();
    }

    private IEnumerable<string> XvncArguments() =>
    [
        ":" + config.Display.ToString(CultureInfo.InvariantCulture),
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
        var stop = LockHolder(config.Display) is { } pid
            ? $"stop it (kill {pid.ToString(CultureInfo.InvariantCulture)}; it holds /tmp/.X{config.Display}-lock)"
            : $"find it with: ss -xlp | grep {Socket}, and stop it";
        return $"an Xvnc not started by this bastiond still answers on {Socket}: left over from an earlier bastiond that was killed "
            + $"without stopping it; {stop} — the desktop then starts by itself";
    }

    private string WhyXvncFailed(DesktopProcess xvnc)
    {
        var lines = xvnc.LastLines;
        if (lines.Any(l => l.Contains("Server is already active for display", StringComparison.Ordinal)))
        {
            var lockFile = $"/tmp/.X{config.Display}-lock";
            var holder = LockHolder(config.Display);
            var who = holder is { } pid && ProcessCommand(pid) is { } command
                ? $"pid {pid.ToString(CultureInfo.InvariantCulture)} ({command}) holds {lockFile}"
                : $"{lockFile} exists";
            return $"display :{config.Display} is taken: Xvnc says \"Server is already active for display {config.Display}\"; {who} — "
                + $"another X server uses :{config.Display}: pick another vnc.display, or remove {lockFile} if no process owns it";
        }
        var telling = lines.LastOrDefault(l => l.Contains("(EE)", StringComparison.Ordinal) && l.Trim().Length > 5)
            ?? lines.LastOrDefault(l => !l.StartsWith("(EE)", StringComparison.Ordinal)) ?? "no output";
        return $"Xvnc {xvnc.ExitDescription} while starting: {telling}";
    }

    /// <summary>The pid written in the X server lock file of display :N, if it is readable.</summary>
    private static int? LockHolder(int display)
    {
        try
        {
            var text = File.ReadAllText($"/tmp/.X{display.ToString(CultureInfo.InvariantCulture)}-lock").Trim();
            return int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var pid) ? pid : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static string? ProcessCommand(int pid)
    {
        try
        {
            var cmdline = File.ReadAllText($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/cmdline").Replace('\0', ' ').Trim();
            return cmdline.Length > 120 ? cmdline[..120] + "…" : cmdline;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
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
