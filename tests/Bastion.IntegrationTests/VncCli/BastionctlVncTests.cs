using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Bastion.IntegrationTests.DBus;
using Bastion.IntegrationTests.Infrastructure;
using Bastion.IntegrationTests.Tls;
using Bastion.IntegrationTests.Vnc;
using Bastion.Vnc;
using Xunit.Abstractions;

namespace Bastion.IntegrationTests.VncCli;

/// <summary>
/// <c>bastionctl vnc …</c> against a real bastiond (real Xvnc, real sshd as the checked peer, real dbus-daemon with the shipped
/// policy), and the admin's real viewer path: <c>bastionctl connect</c> + gvnccapture.
/// </summary>
public sealed class BastionctlVncTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Start_for_a_while_raises_the_desktop_with_the_override_shown_and_auto_returns_to_the_policy()
    {
        await using var desktop = await VncDesktop.StartAsync(output, "fallback");
        await desktop.WaitUntilLoweredAsync(); // sshd answers: the policy keeps it down

        var start = await desktop.CtlAsync("vnc", "start", "--for", "1m");
        Assert.True(start.ExitCode == 0, start.ToString());
        Assert.NotEqual("", start.Stdout.Trim());
        var raised = await desktop.WaitUntilRaisedAsync();
        Assert.StartsWith("start until ", VncDesktop.Detail(raised, "override"), StringComparison.Ordinal);

        var text = await desktop.CtlAsync("vnc", "status");
        var json = await desktop.CtlAsync("vnc", "status", "--json");
        var probe = await desktop.ProbeAsync(desktop.PasswordFile);

        Assert.True(text.ExitCode == 0, text.ToString());
        Assert.Matches(@"(?m)^desktop\s+vnc/\S+ Running since ", text.Stdout);
        Assert.Matches(@"(?m)^override\s+start until ", text.Stdout);
        Assert.Matches(@"(?m)^desired\s+raised$", text.Stdout);
        Assert.Matches(@"(?m)^source\s+D-Bus ", text.Stdout);
        Assert.True(json.ExitCode == 0, json.ToString());
        var component = JsonDocument.Parse(json.Stdout).RootElement.GetProperty("components").EnumerateArray().Single();
        Assert.Equal("vnc", component.GetProperty("kind").GetString());
        Assert.Equal("raised", component.GetProperty("details").GetProperty("desired").GetString());
        Assert.True(probe.ExitCode == 0, probe.ToString());
        Assert.Matches(@"^up: 800x600 '.*' in \d+ ms", probe.Stdout);

        var auto = await desktop.CtlAsync("vnc", "auto");
        Assert.True(auto.ExitCode == 0, auto.ToString());
        var lowered = await desktop.WaitUntilLoweredAsync();
        Assert.Equal("none", VncDesktop.Detail(lowered, "override"));
        var dead = await desktop.ProbeAsync(desktop.PasswordFile, timeout: "3s");
        Assert.True(dead.ExitCode == 1, dead.ToString());
        Assert.StartsWith("dead: ", dead.Stdout, StringComparison.Ordinal);

        // A short --for reaches the daemon as such (the override ends at now + 5s), and the desktop goes back to the policy
        // by itself. Not asserted: that it was Running in between (a loaded machine may take most of the 5s to raise it).
        var before = DateTimeOffset.UtcNow;
        var brief = await desktop.CtlAsync("vnc", "start", "--for", "5s");
        Assert.True(brief.ExitCode == 0, brief.ToString());
        var applied = await SecondLineAsync(desktop.Daemon, "vnc/desktop: command start: ");
        var until = DateTimeOffset.Parse(Regex.Match(applied, @"until (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)").Groups[1].Value, CultureInfo.InvariantCulture);
        Assert.InRange(until - before, TimeSpan.FromSeconds(4), TimeSpan.FromSeconds(30));
        await desktop.Daemon.Log.WaitForLineAsync(l => l.Contains("dbus: ControlVnc start for 5s requested by uid 0 (root) pid ", StringComparison.Ordinal),
            BastiondProcess.Patience, "the request logged with its caller");
        await SecondLineAsync(desktop.Daemon, "vnc/desktop: raising the emergency desktop: "); // raised again, by this command
        var back = await desktop.WaitForDesktopAsync(d => d.State == "Standby" && VncDesktop.Detail(d, "override") == "none"
            && DateTimeOffset.UtcNow > until, "lowered again after the 5s override");
        Assert.Equal("lowered", VncDesktop.Detail(back, "desired"));
    }

    [Fact]
    public async Task Stop_without_force_keeps_a_connected_client_and_lowers_once_it_leaves_and_force_cuts_it_off()
    {
        await using var desktop = await VncDesktop.StartAsync(output, "always");
        await desktop.WaitUntilRaisedAsync();
        var password = VncPasswordFile.Read(desktop.PasswordFile);

        await using (var viewer = await RfbTlsClient.ConnectAsync(desktop.Port, desktop.Pki.CaPath, desktop.Pki.Admin))
        {
            await viewer.HandshakeAsync(password);
            await desktop.WaitForDesktopAsync(d => VncDesktop.Detail(d, "clients") == "1", "clients 1");
            var stop = await desktop.CtlAsync("vnc", "stop");

            Assert.True(stop.ExitCode == 0, stop.ToString());
            Assert.Contains("client", stop.Stdout, StringComparison.OrdinalIgnoreCase);
            // The policy now wants it down, but not under the admin's feet: still served a while later.
            await desktop.WaitForDesktopAsync(d => VncDesktop.Detail(d, "desired") == "lowered" || VncDesktop.Detail(d, "override") == "stop",
                "the stop recorded");
            await Task.Delay(TimeSpan.FromSeconds(2));
            var (pixels, _) = await viewer.ReadFramebufferAsync(TimeSpan.FromSeconds(1)); // the server still answers an update request
            Assert.Equal(VncDesktop.Width * VncDesktop.Height * (viewer.ServerInit!.PixelFormat[0] / 8), pixels.Length);
            var still = VncDesktop.Desktop(desktop.Daemon.ReadStatus())!;
            Assert.True(still.State == "Running", $"{still.State}: {still.Reason}");
        }
        await desktop.WaitUntilLoweredAsync();

        var auto = await desktop.CtlAsync("vnc", "auto"); // mode always: raised again
        Assert.True(auto.ExitCode == 0, auto.ToString());
        await desktop.WaitUntilRaisedAsync();
        await using var second = await RfbTlsClient.ConnectAsync(desktop.Port, desktop.Pki.CaPath, desktop.Pki.Admin);
        await second.HandshakeAsync(password);
        await desktop.WaitForDesktopAsync(d => VncDesktop.Detail(d, "clients") == "1", "clients 1 again");

        var force = await desktop.CtlAsync("vnc", "stop", "--force");

        Assert.True(force.ExitCode == 0, force.ToString());
        Assert.True(await second.WaitForCloseAsync(TimeSpan.FromSeconds(20)), "the forced stop left the client connected");
        await desktop.WaitUntilLoweredAsync();
    }

    [Fact]
    public async Task Password_prints_the_generated_password_to_root_and_tells_another_user_why_not()
    {
        await TestUsers.EnsureAsync();
        await using var desktop = await VncDesktop.StartAsync(output, "always");
        await desktop.WaitUntilRaisedAsync();

        var root = await desktop.CtlAsync("vnc", "password");
        var user = await DbusDaemon.AsUserAsync(TestUsers.Unprivileged, "env",
            "DBUS_SYSTEM_BUS_ADDRESS=" + desktop.Env.Bus.Address, "COLUMNS=", Binaries.Bastionctl, "vnc", "password", "--runtime-dir", desktop.Daemon.RuntimeDir);

        Assert.True(root.ExitCode == 0, root.ToString());
        var password = root.Stdout.TrimEnd('\n');
        Assert.Equal(VncPasswordFile.Read(desktop.PasswordFile), password);
        Assert.Equal(8, password.Length);
        Assert.True(user.ExitCode == 1, user.Describe());
        Assert.Equal("", user.StdOut);
        Assert.Contains("permission denied", user.StdErr, StringComparison.Ordinal);
        Assert.Contains("sudo bastionctl vnc password", user.StdErr, StringComparison.Ordinal);
        Assert.DoesNotContain(password, desktop.Daemon.Log.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Probe_tells_up_auth_broken_and_dead_and_exits_0_only_when_up()
    {
        await using var desktop = await VncDesktop.StartAsync(output, "always");
        await desktop.WaitUntilRaisedAsync();
        var wrong = desktop.Pki.Scratch("wrong-passwd");
        VncPasswordFile.Write(wrong, "Wr0ngPw!");

        var up = await desktop.ProbeAsync(desktop.PasswordFile);
        var viaSocket = await Cli.Bastionctl.RunAsync("vnc", "probe", "--socket", Path.Combine(desktop.Daemon.RuntimeDir, "vnc", "rfb.sock"),
            "--password-file", desktop.PasswordFile);
        var broken = await desktop.ProbeAsync(wrong);
        var nobody = await Cli.Bastionctl.RunAsync("vnc", "probe", "--connect", $"127.0.0.1:{FreePort.Pick()}", "--cert", desktop.Pki.Admin.CertificatePath,
            "--key", desktop.Pki.Admin.KeyPath, "--ca", desktop.Pki.CaPath, "--password-file", desktop.PasswordFile, "--timeout", "3s");

        Assert.True(up.ExitCode == 0, up.ToString());
        Assert.Matches(@"^up: 800x600 '.+' in \d+ ms \(127\.0\.0\.1:\d+ over mutual TLS\)\n$", up.Stdout);
        Assert.True(viaSocket.ExitCode == 0, viaSocket.ToString());
        Assert.StartsWith("up: 800x600 ", viaSocket.Stdout, StringComparison.Ordinal);
        Assert.True(broken.ExitCode == 1, broken.ToString());
        Assert.StartsWith("auth broken: ", broken.Stdout, StringComparison.Ordinal);
        Assert.True(nobody.ExitCode == 1, nobody.ToString());
        Assert.StartsWith("dead: cannot connect to 127.0.0.1:", nobody.Stdout, StringComparison.Ordinal);
        var password = VncPasswordFile.Read(desktop.PasswordFile);
        foreach (var run in new[] { up, viaSocket, broken, nobody })
        {
            Assert.DoesNotContain(password, run.Stdout + run.Stderr, StringComparison.Ordinal);
            Assert.DoesNotContain("Wr0ngPw!", run.Stdout + run.Stderr, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task A_real_viewer_through_bastionctl_connect_captures_the_desktop_as_a_png_of_the_configured_size()
    {
        await using var desktop = await VncDesktop.StartAsync(output, "always");
        await desktop.WaitUntilRaisedAsync();
        var password = VncPasswordFile.Read(desktop.PasswordFile);
        await using var connect = await ConnectProcess.ForwardAsync(output, desktop.Address, desktop.Pki.Admin, desktop.Pki.CaPath,
            "--local", $"127.0.0.1:{FreePort.Pick()}");
        var png = desktop.Pki.Scratch("desktop.png");

        var capture = await GvncCapture.CaptureAsync(connect.LocalPort, password, png, TimeSpan.FromSeconds(60));

        Assert.True(capture.ExitCode == 0, capture.Describe() + "\n--- bastionctl connect ---\n" + connect.Log);
        Assert.Contains("Saved display to", capture.StdOut, StringComparison.Ordinal);
        Assert.Equal((VncDesktop.Width, VncDesktop.Height), Png.Size(png));
    }

    [Fact]
    public async Task Vnc_commands_without_an_emergency_desktop_say_it_is_not_configured_and_the_policy_keeps_others_out()
    {
        await TestUsers.EnsureAsync();
        await using var env = await BastionOnBus.StartAsync(output, BastionOnBus.DeadCheck("web"));

        var start = await env.CtlAsync("vnc", "start");
        var status = await env.CtlAsync("vnc", "status");
        var badFor = await env.CtlAsync("vnc", "stop", "--for", "30");
        var unknownAction = await env.Bus.GdbusCallAsync("ControlVnc", "raise", "0", "false");
        // for_seconds is a u64 from any caller: the largest one must be refused by name, not overflow into a TimeSpan.
        var hugeFor = await env.Bus.GdbusCallAsync("ControlVnc", "start", ulong.MaxValue.ToString(CultureInfo.InvariantCulture), "false");
        var denied = await DbusDaemon.AsUserAsync(TestUsers.Unprivileged, "env",
            "DBUS_SYSTEM_BUS_ADDRESS=" + env.Bus.Address, Binaries.Bastionctl, "vnc", "start", "--runtime-dir", env.Daemon.RuntimeDir);
        var admin = await DbusDaemon.AsUserAsync(TestUsers.Admin, "gdbus",
            "call", "--address", env.Bus.Address, "--dest", "org.bastion.Bastion1", "--object-path", "/org/bastion/Bastion1",
            "--method", "org.bastion.Bastion1.ControlVnc", "start", "0", "false");

        Assert.True(start.ExitCode == 1, start.ToString());
        Assert.Contains("not configured", start.Stderr, StringComparison.Ordinal);
        Assert.Contains($"vnc.mode is off in {env.Daemon.ConfigPath}", start.Stderr, StringComparison.Ordinal);
        Assert.True(status.ExitCode == 1, status.ToString());
        Assert.Contains("not configured", status.Stderr, StringComparison.Ordinal);
        Assert.True(badFor.ExitCode == 2, badFor.ToString());
        Assert.Contains("--for", badFor.Stderr, StringComparison.Ordinal);
        Assert.True(unknownAction.ExitCode != 0 && unknownAction.StdErr.Contains("org.freedesktop.DBus.Error.InvalidArgs", StringComparison.Ordinal)
            && unknownAction.StdErr.Contains("unknown action 'raise'", StringComparison.Ordinal), unknownAction.Describe());
        Assert.True(hugeFor.ExitCode != 0 && hugeFor.StdErr.Contains("org.freedesktop.DBus.Error.InvalidArgs", StringComparison.Ordinal)
            && hugeFor.StdErr.Contains("for_seconds 18446744073709551615 is more than 366d", StringComparison.Ordinal), hugeFor.Describe());
        Assert.True(denied.ExitCode == 1, denied.Describe());
        Assert.Contains("not allowed to start the emergency desktop", denied.StdErr, StringComparison.Ordinal);
        // bastion-admin passes the policy and reaches the daemon, which answers that there is no desktop.
        Assert.True(admin.ExitCode != 0 && admin.StdErr.Contains("org.bastion.Error.VncNotConfigured", StringComparison.Ordinal), admin.Describe());
    }

    /// <summary>The second log line containing <paramref name="text"/> (the first is an earlier command's), polled.</summary>
    private static async Task<string> SecondLineAsync(BastiondProcess daemon, string text)
    {
        var deadline = DateTime.UtcNow + BastiondProcess.Patience;
        while (true)
        {
            if (daemon.Log.Lines.Where(l => l.Contains(text, StringComparison.Ordinal)).Skip(1).FirstOrDefault() is { } line)
            {
                return line;
            }
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"no second line with '{text}' in bastiond's log:\n{daemon.Log}");
            }
            await Task.Delay(50);
        }
    }
}
