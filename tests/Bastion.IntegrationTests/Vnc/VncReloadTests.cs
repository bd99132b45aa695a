using Bastion.IntegrationTests.Infrastructure;
using Bastion.IntegrationTests.Tls;
using Xunit.Abstractions;

namespace Bastion.IntegrationTests.Vnc;

/// <summary>What a reload (SIGHUP) does to a raised desktop, and a desktop whose Xvnc cannot be started at all.</summary>
public sealed class VncReloadTests(ITestOutputHelper output)
{
    [Fact]
    public async Task A_missing_Xvnc_leaves_the_desktop_degraded_with_the_fix_and_one_reason_while_it_retries()
    {
        await using var vnc = await VncTestDaemon.StartAsync(output, "always", vncExtra: "  executable: /nonexistent/Xvnc");
        // Backoff 200ms..2s: a few attempts happen within seconds; the reason must not change between them.
        await vnc.Daemon.WaitForLogLineAsync("vnc/desktop: cannot start /nonexistent/Xvnc", 3);
        var status = await vnc.WaitAsync(s => VncTestDaemon.Endpoint(s).State != "Starting", "tls/vnc started");
        var desktop = VncTestDaemon.Desktop(status);
        Assert.Equal("Degraded", desktop.State);
        Assert.Contains("cannot start /nonexistent/Xvnc", desktop.Reason, StringComparison.Ordinal);
        Assert.Contains("(install it: apt-get install tigervnc-standalone-server, or set vnc.executable)", desktop.Reason, StringComparison.Ordinal);
        Assert.Equal("-", desktop.Details["xvncPid"]);
        Assert.Equal("Standby", VncTestDaemon.Endpoint(status).State); // nothing listens for a desktop that is not there
        Assert.Single(vnc.Daemon.Log.Lines, l => l.Contains("vnc/desktop: ", StringComparison.Ordinal)
            && l.Contains("-> Degraded: raised: vnc.mode is always; cannot start /nonexistent/Xvnc", StringComparison.Ordinal));
        Assert.False(vnc.Daemon.Process.HasExited);
    }

    [Fact]
    public async Task A_reload_that_changes_only_the_endpoint_keeps_the_desktop_running_and_serves_it_again()
    {
        await using var vnc = await VncTestDaemon.StartAsync(output, "always");
        var port = await vnc.WaitRaisedAsync();
        var xvnc = VncTestDaemon.Pid(VncTestDaemon.Desktop(await vnc.WaitAsync(s => VncTestDaemon.Pid(VncTestDaemon.Desktop(s), "xvncPid") is not null, "xvncPid")), "xvncPid")!.Value;
        await using (var before = await vnc.ConnectAsync(port))
        {
            await before.HandshakeAsync(VncTestDaemon.Password);
        }

        var key = "key: " + vnc.Pki.Server.KeyPath;
        vnc.Daemon.WriteConfig(vnc.Config.Replace(key, key + "\n    maxFailedHandshakesPerMinute: 7", StringComparison.Ordinal));
        vnc.Daemon.Signal(Posix.SIGHUP);
        await vnc.Daemon.WaitForLogAsync("tls/vnc: changed; restarting it");

        // The test config listens on port 0: the restarted endpoint has another port.
        var status = await vnc.WaitAsync(s => VncTestDaemon.Endpoint(s).State == "Running"
            && int.TryParse(VncTestDaemon.Endpoint(s).Details.GetValueOrDefault("boundPort"), out var p) && p != port, "tls/vnc restarted and listening");
        Assert.Equal(xvnc, VncTestDaemon.Pid(VncTestDaemon.Desktop(status), "xvncPid")); // the desktop was not touched
        Assert.Equal("0", VncTestDaemon.Desktop(status).Details["xvncRestarts"]);
        var newPort = int.Parse(VncTestDaemon.Endpoint(status).Details["boundPort"], System.Globalization.CultureInfo.InvariantCulture);
        await using var after = await vnc.ConnectAsync(newPort);
        Assert.Equal(320, (await after.HandshakeAsync(VncTestDaemon.Password)).Width);
        var running = VncTestDaemon.Desktop(await vnc.WaitAsync(s => VncTestDaemon.Desktop(s).Reason.Contains($"listening on 127.0.0.1:{newPort}", StringComparison.Ordinal),
            "the desktop names the new address"));
        Assert.Equal("Running", running.State);
    }

    [Fact]
    public async Task A_reload_that_changes_vnc_replaces_Xvnc_with_one_on_the_new_settings_and_leaves_nothing_behind()
    {
        await using var vnc = await VncTestDaemon.StartAsync(output, "always");
        await vnc.WaitRaisedAsync();
        var desktop = VncTestDaemon.Desktop(await vnc.WaitAsync(s => VncTestDaemon.Pid(VncTestDaemon.Desktop(s), "sessionPid") is not null, "session started"));
        var xvnc = VncTestDaemon.Pid(desktop, "xvncPid")!.Value;
        var session = VncTestDaemon.Pid(desktop, "sessionPid")!.Value;
        var port0 = int.Parse(VncTestDaemon.Endpoint(vnc.Daemon.ReadStatus()).Details["boundPort"], System.Globalization.CultureInfo.InvariantCulture);
        await using var working = await vnc.ConnectAsync(port0); // an admin in the desktop during the reload
        await working.HandshakeAsync(VncTestDaemon.Password);
        await vnc.WaitAsync(s => VncTestDaemon.Desktop(s).Details["clients"] == "1", "1 client");

        vnc.Daemon.WriteConfig(vnc.Config.Replace("geometry: " + VncTestDaemon.Geometry, "geometry: 400x300", StringComparison.Ordinal));
        vnc.Daemon.Signal(Posix.SIGHUP);
        await vnc.Daemon.WaitForLogAsync("vnc/desktop: changed; restarting it");
        // The desktop is rebuilt: the admin's session cannot survive that, and the log says why it ended.
        Assert.Contains(" WRN ", await vnc.Daemon.WaitForLogAsync("vnc/desktop: stopping the desktop (daemon stop, a reload that changed vnc:, or a failure) with 1 client connected"), StringComparison.Ordinal);
        Assert.True(await working.WaitForCloseAsync(TimeSpan.FromSeconds(15)), "the old desktop's client was not cut off");

        var status = await vnc.WaitAsync(s => VncTestDaemon.Desktop(s).State == "Running" && VncTestDaemon.Endpoint(s).State == "Running"
            && VncTestDaemon.Desktop(s).Details["probe"].StartsWith("up: 400x300 ", StringComparison.Ordinal), "raised again at 400x300");
        Assert.NotEqual(xvnc, VncTestDaemon.Pid(VncTestDaemon.Desktop(status), "xvncPid"));
        await VncFallbackTests.WaitUntilAsync(() => !VncTestDaemon.IsAlive(xvnc) && !VncTestDaemon.IsAlive(session), "the old Xvnc and session stopped");
        Assert.DoesNotContain(vnc.Daemon.Log.Lines, l => l.Contains("not started by this bastiond", StringComparison.Ordinal)
            || l.Contains("is taken", StringComparison.Ordinal) || l.Contains("sent SIGKILL", StringComparison.Ordinal));
        var port = int.Parse(VncTestDaemon.Endpoint(status).Details["boundPort"], System.Globalization.CultureInfo.InvariantCulture);
        await using var client = await vnc.ConnectAsync(port);
        var init = await client.HandshakeAsync(VncTestDaemon.Password);
        Assert.Equal((400, 300), (init.Width, init.Height));
    }

    [Fact]
    public async Task A_reload_that_changes_only_the_grace_and_failures_keeps_the_desktop_and_the_connected_admin()
    {
        var closed = FreePort.Pick(); // nothing listens: the check fails and the desktop is raised
        await using var vnc = await VncTestDaemon.StartAsync(output, "fallback", sshdPort: closed, grace: "2s");
        var port = await vnc.WaitRaisedAsync();
        var xvnc = VncTestDaemon.Pid(VncTestDaemon.Desktop(await vnc.WaitAsync(s => VncTestDaemon.Pid(VncTestDaemon.Desktop(s), "xvncPid") is not null, "xvncPid")), "xvncPid")!.Value;
        await using var admin = await vnc.ConnectAsync(port);
        await admin.HandshakeAsync(VncTestDaemon.Password);
        await vnc.WaitAsync(s => VncTestDaemon.Desktop(s).Details["clients"] == "1", "1 client");

        vnc.Daemon.WriteConfig(vnc.Config.Replace("grace: 2s", "grace: 45s", StringComparison.Ordinal).Replace("failures: 2\n    grace", "failures: 4\n    grace", StringComparison.Ordinal));
        vnc.Daemon.Signal(Posix.SIGHUP);
        await vnc.Daemon.WaitForLogAsync("vnc/desktop: policy changed; applied live");
        await vnc.Daemon.WaitForLogAsync("policy updated live (mode fallback, check sshd, failures 4, grace 45s)");

        Assert.False(await admin.WaitForCloseAsync(TimeSpan.FromSeconds(3)), "the admin was cut off by a policy change\n" + vnc.Daemon.Log);
        var (_, uniform) = await admin.ReadFramebufferAsync(TimeSpan.FromSeconds(15)); // the same session still serves him
        Assert.False(uniform);
        var status = await vnc.WaitAsync(s => VncTestDaemon.Desktop(s).State == "Running", "desktop Running");
        Assert.Equal(xvnc, VncTestDaemon.Pid(VncTestDaemon.Desktop(status), "xvncPid"));
        Assert.Equal("1", VncTestDaemon.Desktop(status).Details["clients"]);
        Assert.DoesNotContain(vnc.Daemon.Log.Lines, l => l.Contains("vnc/desktop: changed; restarting it", StringComparison.Ordinal)
            || l.Contains("stopping the desktop", StringComparison.Ordinal));
    }
}
