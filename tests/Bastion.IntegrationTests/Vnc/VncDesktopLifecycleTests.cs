using System.Globalization;
using Bastion.IntegrationTests.Infrastructure;
using Bastion.IntegrationTests.Tls;
using Xunit.Abstractions;

namespace Bastion.IntegrationTests.Vnc;

/// <summary>The desktop's processes and files (vnc.mode always): restarts, stop, a taken display, the generated password.</summary>
public sealed class VncDesktopLifecycleTests(ITestOutputHelper output)
{
    private const int SIGKILL = 9;

    [Fact]
    public async Task A_killed_Xvnc_is_restarted_and_the_probe_reports_the_outage_in_between()
    {
        await using var vnc = await VncTestDaemon.StartAsync(output, "always");
        await vnc.WaitRaisedAsync();
        var before = VncTestDaemon.Desktop(await vnc.WaitAsync(s => VncTestDaemon.Pid(VncTestDaemon.Desktop(s), "xvncPid") is not null, "xvncPid"));
        var xvnc = VncTestDaemon.Pid(before, "xvncPid")!.Value;
        Assert.StartsWith("up: 320x240 ", before.Details["probe"], StringComparison.Ordinal);
        Assert.Equal("none", before.Details["sessionSandbox"]); // the test runs bastiond unconfined, as bastion.service does

        Posix.Signal(xvnc, SIGKILL);
        var exited = await vnc.Daemon.WaitForLogAsync($"vnc/desktop: Xvnc (pid {xvnc}) exited with signal 9; probe: dead");
        output.WriteLine("outage: " + exited);
        await vnc.Daemon.WaitForLogLineAsync("vnc/desktop: RFB probe: dead", 1);
        var after = VncTestDaemon.Desktop(await vnc.WaitAsync(s => VncTestDaemon.Desktop(s).State == "Running"
            && VncTestDaemon.Desktop(s).Details["xvncRestarts"] == "1" && VncTestDaemon.Pid(VncTestDaemon.Desktop(s), "xvncPid") is { } p && p != xvnc, "Xvnc restarted"));
        Assert.StartsWith("up: ", after.Details["probe"], StringComparison.Ordinal);
        Assert.Contains(vnc.Daemon.Log.Lines, l => l.Contains("vnc/desktop: Running -> Degraded: raised: vnc.mode is always; Xvnc exited with signal 9", StringComparison.Ordinal));
        // Meanwhile the endpoint did not accept admins only to fail on a dead socket.
        Assert.Contains(vnc.Daemon.Log.Lines, l => l.Contains("tls/vnc: Running -> Standby: lowered: not listening while the emergency desktop is down: Xvnc exited with signal 9", StringComparison.Ordinal));

        var port = await vnc.WaitRaisedAsync();
        await using var client = await vnc.ConnectAsync(port);
        Assert.Equal(240, (await client.HandshakeAsync(VncTestDaemon.Password)).Height);
    }

    [Fact]
    public async Task A_desktop_raised_under_a_sandbox_is_degraded_because_its_session_inherits_it()
    {
        // What systemd/bastion-hardening.conf does to bastiond and so to the admin's login shell, by setpriv here.
        await using var vnc = await VncTestDaemon.StartAsync(output, "always",
            beforeStart: d => d.Wrapper = ["setpriv", "--no-new-privs", "--bounding-set", "-dac_override", "--"]);

        var desktop = VncTestDaemon.Desktop(await vnc.WaitAsync(s => VncTestDaemon.Desktop(s).State == "Degraded"
            && VncTestDaemon.Desktop(s).Reason.Contains(" up; tls/vnc ", StringComparison.Ordinal), "desktop up, Degraded for the sandbox"));

        const string Confinement = "no new privileges (sudo and su fail); root without CAP_DAC_OVERRIDE";
        Assert.Equal(Confinement, desktop.Details["sessionSandbox"]);
        Assert.EndsWith($"but the session inherits bastiond's sandbox ({Confinement}): an admin could not repair much from this desktop — "
            + "remove /etc/systemd/system/bastion.service.d/hardening.conf (systemd/bastion-hardening.conf) and restart bastion", desktop.Reason, StringComparison.Ordinal);
        Assert.Contains(vnc.Daemon.Log.Lines, l => l.Contains("WRN", StringComparison.Ordinal) && l.Contains("vnc/desktop: the session inherits bastiond's sandbox", StringComparison.Ordinal));
        // Still a working desktop: an admin gets in (and sees why it may not be enough).
        var port = int.Parse(VncTestDaemon.Endpoint(await vnc.WaitAsync(s => VncTestDaemon.Endpoint(s).State == "Running", "tls/vnc listening")).Details["boundPort"], CultureInfo.InvariantCulture);
        await using var client = await vnc.ConnectAsync(port);
        Assert.Equal(240, (await client.HandshakeAsync(VncTestDaemon.Password)).Height);
    }

    [Fact]
    public async Task A_session_that_exits_is_started_again_on_the_same_desktop_without_touching_Xvnc()
    {
        await using var vnc = await VncTestDaemon.StartAsync(output, "always");
        await vnc.WaitRaisedAsync();
        var desktop = VncTestDaemon.Desktop(await vnc.WaitAsync(s => VncTestDaemon.Pid(VncTestDaemon.Desktop(s), "sessionPid") is not null, "session started"));
        var xvnc = VncTestDaemon.Pid(desktop, "xvncPid")!.Value;
        var session = VncTestDaemon.Pid(desktop, "sessionPid")!.Value;

        Posix.Signal(session, SIGKILL); // like login giving up after 60 s and xterm exiting, only sooner
        var line = await vnc.Daemon.WaitForLogAsync($"vnc/desktop: session (pid {session}) exited with signal 9; starting it again in");
        Assert.Contains(" INF ", line, StringComparison.Ordinal); // normal life of a login session: not a warning
        var again = VncTestDaemon.Desktop(await vnc.WaitAsync(s => VncTestDaemon.Pid(VncTestDaemon.Desktop(s), "sessionPid") is { } p && p != session, "a new session"));
        Assert.Equal(xvnc, VncTestDaemon.Pid(again, "xvncPid"));
        Assert.Equal("0", again.Details["xvncRestarts"]);
        Assert.Equal("Running", again.State);
    }

    [Fact]
    public async Task A_session_command_that_cannot_start_leaves_the_desktop_degraded_with_the_fix()
    {
        await using var vnc = await VncTestDaemon.StartAsync(output, "always", session: "[/nonexistent/terminal, -e, /bin/login]");
        var degraded = VncTestDaemon.Desktop(await vnc.WaitAsync(s => VncTestDaemon.Desktop(s).Reason.Contains("session command", StringComparison.Ordinal), "session problem"));
        Assert.Equal("Degraded", degraded.State);
        Assert.Contains("desktop :" + vnc.Display + " 320x240 up but cannot start the session command /nonexistent/terminal", degraded.Reason, StringComparison.Ordinal);
        Assert.Contains("(fix vnc.session)", degraded.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Stopping_bastiond_stops_Xvnc_and_the_session_and_leaves_no_X_lock()
    {
        await using var vnc = await VncTestDaemon.StartAsync(output, "always");
        await vnc.WaitRaisedAsync();
        var desktop = VncTestDaemon.Desktop(await vnc.WaitAsync(s => VncTestDaemon.Pid(VncTestDaemon.Desktop(s), "sessionPid") is not null, "session started"));
        var xvnc = VncTestDaemon.Pid(desktop, "xvncPid")!.Value;
        var session = VncTestDaemon.Pid(desktop, "sessionPid")!.Value;
        Assert.True(VncTestDaemon.IsAlive(xvnc) && VncTestDaemon.IsAlive(session));

        Assert.Equal(0, await vnc.StopAsync());
        Assert.False(VncTestDaemon.IsAlive(xvnc), "Xvnc outlived bastiond");
        Assert.False(VncTestDaemon.IsAlive(session), "the session outlived bastiond");
        Assert.False(File.Exists($"/tmp/.X{vnc.Display}-lock"), "Xvnc did not exit cleanly (its lock file is left)");
        Assert.DoesNotContain(vnc.Daemon.Log.Lines, l => l.Contains("sent SIGKILL", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_SIGKILLed_bastiond_takes_its_desktop_with_it_and_the_next_start_serves_the_desktop_within_15_seconds()
    {
        await using var vnc = await VncTestDaemon.StartAsync(output, "always");
        await vnc.WaitRaisedAsync();
        var desktop = VncTestDaemon.Desktop(await vnc.WaitAsync(s => VncTestDaemon.Pid(VncTestDaemon.Desktop(s), "sessionPid") is not null, "session started"));
        var xvnc = VncTestDaemon.Pid(desktop, "xvncPid")!.Value;
        var session = VncTestDaemon.Pid(desktop, "sessionPid")!.Value;
        vnc.Daemon.Process.Kill(entireProcessTree: false); // SIGKILL, as the OOM killer does: no chance to stop its children
        await vnc.Daemon.WaitForExitAsync(TimeSpan.FromSeconds(10));
        await VncFallbackTests.WaitUntilAsync(() => !VncTestDaemon.IsAlive(xvnc) && !VncTestDaemon.IsAlive(session), "Xvnc and the session died with bastiond");

        var clock = System.Diagnostics.Stopwatch.StartNew();
        vnc.Daemon.Start();
        // The status file still holds the killed daemon's last words: wait for the new Xvnc and the new endpoint's port.
        var oldPort = VncTestDaemon.Endpoint(vnc.Daemon.ReadStatus()).Details["boundPort"];
        var raised = await vnc.WaitAsync(s => VncTestDaemon.Desktop(s).State == "Running" && VncTestDaemon.Endpoint(s).State == "Running"
            && VncTestDaemon.Pid(VncTestDaemon.Desktop(s), "xvncPid") is { } p && p != xvnc
            && VncTestDaemon.Endpoint(s).Details.GetValueOrDefault("boundPort") is { } bound && bound != oldPort && bound != "-", "raised by the new bastiond", TimeSpan.FromSeconds(15));
        var port = int.Parse(VncTestDaemon.Endpoint(raised).Details["boundPort"], CultureInfo.InvariantCulture);
        await using var client = await vnc.ConnectAsync(port);
        Assert.Equal(320, (await client.HandshakeAsync(VncTestDaemon.Password)).Width);
        output.WriteLine($"desktop served {clock.Elapsed.TotalSeconds:F1} s after the new start");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(15), $"desktop reachable only after {clock.Elapsed.TotalSeconds:F1} s");
        Assert.DoesNotContain(vnc.Daemon.Log.Lines, l => l.Contains("not started by this bastiond", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_leftover_that_the_runtime_directory_proves_ours_is_stopped_and_a_pid_reused_by_another_process_is_not()
    {
        using var ours = System.Diagnostics.Process.Start("/bin/sleep", "600");
        using var stranger = System.Diagnostics.Process.Start("/bin/sleep", "600");
        try
        {
            await using var vnc = await VncTestDaemon.StartAsync(output, "always", beforeStart: daemon =>
            {
                var dir = Path.Combine(daemon.RuntimeDir, "vnc");
                Directory.CreateDirectory(dir);
                // What an earlier bastiond wrote: the pid and the kernel's start time of the process (/proc/PID/stat field 22).
                File.WriteAllText(Path.Combine(dir, "xvnc.pid"), $"{ours.Id} {StartTime(ours.Id)}\n");
                File.WriteAllText(Path.Combine(dir, "session.pid"), $"{stranger.Id} {StartTime(stranger.Id) + 1}\n"); // the pid, reused since
            });
            await vnc.WaitRaisedAsync();
            Assert.True(ours.WaitForExit(TimeSpan.FromSeconds(10)), "the proven leftover was not stopped");
            Assert.Contains($"stopped the Xvnc (pid {ours.Id}) an earlier bastiond left running", await vnc.Daemon.WaitForLogAsync("an earlier bastiond left running"), StringComparison.Ordinal);
            Assert.False(stranger.HasExited, "bastiond killed a process its pid file does not prove its own");
        }
        finally
        {
            foreach (var p in new[] { ours, stranger }.Where(p => !p.HasExited))
            {
                p.Kill();
            }
        }
    }

    private static long StartTime(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        return long.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[19], CultureInfo.InvariantCulture);
    }

    [Fact]
    public async Task A_display_squatted_by_a_lock_file_and_its_abstract_socket_does_not_keep_the_desktop_from_starting_on_another()
    {
        var display = VncTestDaemon.FreeDisplay();
        var lockFile = $"/tmp/.X{display}-lock";
        // What a hostile local user does: a lock file with a live pid of theirs (here: this test process), as X writes it,
        // and a bind of the display's abstract socket.
        File.WriteAllText(lockFile, Environment.ProcessId.ToString(CultureInfo.InvariantCulture).PadLeft(10) + "\n");
        using var squat = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified);
        squat.Bind(new System.Net.Sockets.UnixDomainSocketEndPoint("\0/tmp/.X11-unix/X" + display.ToString(CultureInfo.InvariantCulture)));
        squat.Listen(1);
        try
        {
            await using var vnc = await VncTestDaemon.StartAsync(output, "always", display: display);
            var port = await vnc.WaitRaisedAsync();
            var status = await vnc.WaitAsync(s => VncTestDaemon.Pid(VncTestDaemon.Desktop(s), "sessionPid") is not null, "session started");
            var desktop = VncTestDaemon.Desktop(status);
            Assert.NotEqual(":" + display, desktop.Details["display"]);
            Assert.Equal(":" + display, desktop.Details["configuredDisplay"]);
            Assert.Contains($"desktop {desktop.Details["display"]} ", desktop.Reason, StringComparison.Ordinal);
            Assert.Contains($"display :{display} is taken", await vnc.Daemon.WaitForLogAsync($"display :{display} is taken"), StringComparison.Ordinal);
            await using var client = await vnc.ConnectAsync(port);
            await client.HandshakeAsync(VncTestDaemon.Password);
            var (_, uniform) = await client.ReadFramebufferAsync(TimeSpan.FromSeconds(15));
            Assert.False(uniform, "the session's xterm never appeared on the other display");
            Assert.True(File.Exists(lockFile), "someone else's lock file was removed");
        }
        finally
        {
            File.Delete(lockFile);
        }
    }

    [Fact]
    public async Task The_generated_password_file_is_private_reused_after_a_restart_and_never_logged_and_Xvnc_has_no_TCP_port()
    {
        await using var vnc = await VncTestDaemon.StartAsync(output, "always", generatedPassword: true);
        var port = await vnc.WaitRaisedAsync();
        var passwd = Path.Combine(vnc.Daemon.StateDir, "vnc", "passwd");
        var runDir = Path.Combine(vnc.Daemon.RuntimeDir, "vnc");
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(passwd));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(runDir));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(runDir, "Xauthority")));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(runDir, "rfb.sock")));
        var desktop = VncTestDaemon.Desktop(vnc.Daemon.ReadStatus());
        Assert.Equal(passwd, desktop.Details["passwordFile"]);
        var xvnc = VncTestDaemon.Pid(desktop, "xvncPid")!.Value;
        Assert.Empty(TcpListeningSockets(xvnc));

        var password = vnc.PasswordInUse;
        Assert.Equal(8, password.Length);
        await using (var client = await vnc.ConnectAsync(port))
        {
            await client.HandshakeAsync(password);
        }
        var content = await File.ReadAllBytesAsync(passwd);
        Assert.Equal(0, await vnc.StopAsync());
        vnc.Daemon.Start();
        await vnc.WaitAsync(s => VncTestDaemon.Desktop(s).State == "Running" && VncTestDaemon.Pid(VncTestDaemon.Desktop(s), "xvncPid") is { } p && p != xvnc, "running again");
        Assert.Equal(content, await File.ReadAllBytesAsync(passwd));
        Assert.Single(vnc.Daemon.Log.Lines, l => l.Contains("generated a VNC password in " + passwd, StringComparison.Ordinal));
        Assert.DoesNotContain(vnc.Daemon.Log.Lines, l => l.Contains(password, StringComparison.Ordinal));
        Assert.DoesNotContain(password, File.ReadAllText(Path.Combine(vnc.Daemon.RuntimeDir, "status.json")), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_symbolic_link_in_place_of_the_runtime_vnc_directory_is_refused_and_nothing_is_written_through_it()
    {
        using var elsewhere = new TempRoot();
        await using var vnc = await VncTestDaemon.StartAsync(output, "always", beforeStart: daemon =>
        {
            Directory.CreateDirectory(daemon.RuntimeDir);
            File.CreateSymbolicLink(Path.Combine(daemon.RuntimeDir, "vnc"), elsewhere.Path);
        });
        var desktop = VncTestDaemon.Desktop(await vnc.WaitAsync(s => VncTestDaemon.Desktop(s).Reason.Contains("symbolic link", StringComparison.Ordinal), "symlink refused"));
        Assert.Equal("Degraded", desktop.State);
        Assert.Contains($"{Path.Combine(vnc.Daemon.RuntimeDir, "vnc")} is a symbolic link (to {elsewhere.Path}), not a directory; remove it", desktop.Reason, StringComparison.Ordinal);
        Assert.Empty(Directory.EnumerateFileSystemEntries(elsewhere.Path)); // no cookie, no socket out there
        Assert.Equal("-", desktop.Details["xvncPid"]);
    }

    /// <summary>TCP sockets in LISTEN state that the process holds (from /proc/net/tcp{,6} and its fds).</summary>
    private static List<string> TcpListeningSockets(int pid)
    {
        var inodes = new HashSet<string>(StringComparer.Ordinal);
        foreach (var fd in Directory.EnumerateFileSystemEntries($"/proc/{pid}/fd"))
        {
            var target = new FileInfo(fd).LinkTarget;
            if (target is not null && target.StartsWith("socket:[", StringComparison.Ordinal))
            {
                inodes.Add(target[8..^1]);
            }
        }
        var listening = new List<string>();
        foreach (var table in new[] { "/proc/net/tcp", "/proc/net/tcp6" })
        {
            foreach (var line in File.ReadLines(table).Skip(1))
            {
                var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (fields.Length > 9 && fields[3] == "0A" && inodes.Contains(fields[9]))
                {
                    listening.Add(line.Trim());
                }
            }
        }
        Assert.NotEmpty(inodes); // it does hold sockets (its Unix ones): the check looked at the right process
        return listening;
    }
}
