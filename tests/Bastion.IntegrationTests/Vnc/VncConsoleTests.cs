using System.Globalization;
using Bastion.IntegrationTests.Infrastructure;
using Xunit.Abstractions;

namespace Bastion.IntegrationTests.Vnc;

/// <summary>The default desktop: the built-in console (a full-screen xterm with the system login), and a logged-in user.</summary>
public sealed class VncConsoleTests(ITestOutputHelper output)
{
    [Fact]
    public async Task The_default_desktop_is_one_terminal_filling_the_screen_with_the_login_prompt_in_a_readable_font()
    {
        await using var vnc = await VncTestDaemon.StartAsync(output, "always", session: "", geometry: "1024x640");
        var port = await vnc.WaitRaisedAsync();
        var desktop = VncTestDaemon.Desktop(await vnc.WaitAsync(s => VncTestDaemon.Pid(VncTestDaemon.Desktop(s), "sessionPid") is not null, "console started"));
        var display = desktop.Details["display"];

        // The X server's own view: one top-level window, the console, at 1024x640+0+0 (xwininfo from x11-utils).
        string tree;
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (true)
        {
            var run = await ExternalCommand.RunAsync("/usr/bin/env", ["DISPLAY=" + display, "XAUTHORITY=" + Path.Combine(vnc.Daemon.RuntimeDir, "vnc", "Xauthority"),
                "xwininfo", "-root", "-children"], TimeSpan.FromSeconds(10));
            tree = run.Describe();
            if (tree.Contains("\"Bastion emergency console\"", StringComparison.Ordinal) && tree.Contains("1024x640+0+0", StringComparison.Ordinal))
            {
                break;
            }
            Assert.True(DateTime.UtcNow < deadline, "the console does not cover the screen:\n" + tree);
            await Task.Delay(250);
        }
        output.WriteLine(tree);
        Assert.Contains("1 child:", tree, StringComparison.Ordinal);

        await using var client = await vnc.ConnectAsync(port);
        var init = await client.HandshakeAsync(VncTestDaemon.Password);
        Assert.Equal((1024, 640), (init.Width, init.Height));
        var (frame, uniform) = await client.ReadFramebufferAsync(TimeSpan.FromSeconds(20));
        Assert.False(uniform, "nothing drawn: no login prompt");
        var dir = Path.Combine(AppContext.BaseDirectory, "screenshots");
        Directory.CreateDirectory(dir);
        var png = Path.Combine(dir, "default-desktop.png");
        PngFile.Write(png, frame, init.Width, init.Height);
        output.WriteLine("kept the default desktop as " + png);

        // The text is large enough to read: the text cursor (a filled cell after "login: ") is a column of lit pixels as tall
        // as a line — 17 px for DejaVu Sans Mono at 10 pt, where the bitmap font of a bare xterm gives 13. Only the first
        // lines are looked at (the mouse pointer, drawn by the server, sits in the middle of the screen).
        var tallest = 0;
        for (var x = 0; x < init.Width; x++)
        {
            var run = 0;
            for (var y = 0; y < 40; y++)
            {
                var i = (y * init.Width + x) * 4;
                run = frame[i] + frame[i + 1] + frame[i + 2] > 300 ? run + 1 : 0;
                tallest = Math.Max(tallest, run);
            }
        }
        Assert.InRange(tallest, 15, 40);
        Assert.Equal("-", VncTestDaemon.Desktop(vnc.Daemon.ReadStatus()).Details["loggedIn"]); // a login prompt is not a login
    }

    [Fact]
    public async Task Lowering_waits_while_a_user_is_logged_in_on_the_desktop_and_the_reason_says_so()
    {
        using var root = new TempRoot();
        // login's shape after a successful login: a process named login whose child is the user's shell (here: sleep).
        var login = Path.Combine(root.Path, "login");
        var shell = Path.Combine(root.Path, "shell.pid");
        File.WriteAllText(login, $"#!/bin/sh\nsleep 3600 &\necho $! > {shell}\nwait\n");
        File.SetUnixFileMode(login, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        await using var sshd = await Sshd.StartAsync(root.Path, output);
        await using var vnc = await VncTestDaemon.StartAsync(output, "fallback", sshd.Port, grace: "2s", session: $"[/usr/bin/xterm, -e, {login}]");
        await vnc.WaitAsync(s => VncTestDaemon.Desktop(s).Details.GetValueOrDefault("sshd", "-").StartsWith("ok:", StringComparison.Ordinal), "sshd seen ok");
        await sshd.KillAsync();
        await vnc.WaitRaisedAsync();
        await vnc.WaitAsync(s => VncTestDaemon.Desktop(s).Details.GetValueOrDefault("loggedIn") == "root", "root logged in");

        await sshd.RestartAsync();
        await vnc.WaitAsync(s => VncTestDaemon.Desktop(s).Details.GetValueOrDefault("sshd", "-").StartsWith("ok:", StringComparison.Ordinal), "sshd ok again");
        await Task.Delay(TimeSpan.FromSeconds(5)); // more than twice the grace
        var held = VncTestDaemon.Desktop(vnc.Daemon.ReadStatus());
        Assert.True(held.State == "Running", $"lowered under a logged-in user: {held.State}: {held.Reason}");
        Assert.Contains("; lowering once root has logged out of the desktop;", held.Reason, StringComparison.Ordinal);

        Posix.Signal(int.Parse(File.ReadAllText(shell).Trim(), CultureInfo.InvariantCulture), Posix.SIGTERM); // the user logs out
        await vnc.WaitAsync(s => VncTestDaemon.Desktop(s).State == "Standby", "lowered once the user logged out", TimeSpan.FromSeconds(30));
    }
}
