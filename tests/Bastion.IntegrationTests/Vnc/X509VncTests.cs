using System.Diagnostics;
using System.Text;
using Bastion.IntegrationTests.Infrastructure;
using Bastion.IntegrationTests.Tls;
using Xunit.Abstractions;

namespace Bastion.IntegrationTests.Vnc;

/// <summary>
/// vnc.stockViewers: x509vnc (opt-in): a stock viewer with only the CA and the VNC password reaches the desktop over VeNCrypt
/// X509Vnc. The outside judge is TigerVNC's vncviewer (its own RFB, VeNCrypt, GnuTLS and VNC authentication) under Xvfb.
/// (gtk-vnc's gvnccapture speaks X509Vnc too, but reads its CA only from /etc/pki or the passwd entry's home, not HOME: a
/// test cannot hand it one without writing to the machine's own trust directories.)
/// </summary>
public sealed class X509VncTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task With_x509vnc_opted_in_TigerVNC_vncviewer_with_only_the_CA_and_the_VNC_password_shows_the_desktop_and_mutual_TLS_still_works()
    {
        await using var vnc = await VncTestDaemon.StartAsync(output, "always", vncExtra: "  stockViewers: x509vnc");
        var port = await vnc.WaitRaisedAsync();
        await using var x = await Xvfb.StartAsync(output);

        // Right after the desktop was raised, the first viewer (this stalled after TLS in loaded full runs while the path
        // spoke TLS 1.3: see TlsEndpoint.X509Vnc). No second chance: the first viewer must get in.
        await using var viewer = x.Viewer(port, vnc.Pki.CaPath, vnc.PasswordFile!);
        try
        {
            await WaitForLineAsync(vnc.Daemon, "VNC session opened by X509Vnc (no client certificate)", TimeSpan.FromSeconds(30));
        }
        catch (TimeoutException)
        {
            var screen = await ExternalCommand.RunAsync("xwininfo", ["-root", "-tree"], TimeSpan.FromSeconds(20), new Dictionary<string, string> { ["DISPLAY"] = $":{x.Display}" });
            output.WriteLine("the viewer stalled; its display:\n" + screen.StdOut + "\n--- vncviewer ---\n" + viewer.Log);
            throw;
        }
        var accepted = await vnc.Daemon.WaitForLogLineAsync("subject X509Vnc (no client certificate)", 1);
        Assert.Contains("TLSv1.2", accepted, StringComparison.Ordinal);
        // The viewer got ServerInit and made its window the desktop's size: the screen reached it through Bastion.
        var tree = await x.WaitForWindowAsync($"{VncTestDaemon.Geometry}+", viewer);
        output.WriteLine(tree);
        Assert.Contains(tree.Split('\n'), l => l.Contains("- TigerVNC\"", StringComparison.Ordinal) && l.Contains(VncTestDaemon.Geometry + "+", StringComparison.Ordinal));

        // The client-certificate path is unchanged alongside it, on TLS 1.3.
        await using var admin = await vnc.ConnectAsync(port);
        Assert.Equal(320, (await admin.HandshakeAsync(VncTestDaemon.Password)).Width);
        Assert.DoesNotContain(vnc.Daemon.Log.Lines, l => l.Contains(VncTestDaemon.Password, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Wrong_VNC_passwords_over_x509vnc_are_refused_logged_counted_and_limited_per_address_while_a_certificate_from_that_address_still_gets_in()
    {
        await using var vnc = await VncTestDaemon.StartAsync(output, "always", vncExtra: "  stockViewers: x509vnc",
            tlsExtra: "    maxFailedHandshakesPerMinute: 2");
        var port = await vnc.WaitRaisedAsync();
        await using var x = await Xvfb.StartAsync(output);

        for (var attempt = 1; attempt <= 2; attempt++)
        {
            var wrong = await PasswordFileAsync(vnc, "guess" + attempt);
            await using var viewer = x.Viewer(port, vnc.Pki.CaPath, wrong);
            var line = await vnc.Daemon.WaitForLogLineAsync("VNC authentication failed for X509Vnc (no client certificate)", attempt);
            Assert.Contains("from 127.0.0.1:", line, StringComparison.Ordinal);
        }
        await vnc.Daemon.WaitForLogLineAsync("wrong VNC passwords over X509Vnc from this address in a minute", 1);
        await vnc.WaitAsync(s => VncTestDaemon.Endpoint(s).Details.GetValueOrDefault("vncAuthFailures") == "2", "vncAuthFailures 2");

        // Limited: even the right password over X509Vnc from this address is refused until the failures age out ...
        await using (x.Viewer(port, vnc.Pki.CaPath, vnc.PasswordFile!))
        {
            await vnc.Daemon.WaitForLogLineAsync("wrong VNC passwords from this address in the last minute; refused until they age out", 1);
        }
        Assert.DoesNotContain(vnc.Daemon.Log.Lines, l => l.Contains("VNC session opened", StringComparison.Ordinal));

        // ... but a client certificate from the same address is not affected.
        await using var admin = await vnc.ConnectAsync(port);
        Assert.Equal(320, (await admin.HandshakeAsync(VncTestDaemon.Password)).Width);
        Assert.DoesNotContain(vnc.Daemon.Log.Lines, l => l.Contains("guess", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Without_the_opt_in_vncviewer_asking_for_X509Vnc_is_not_offered_VeNCrypt_and_is_told_what_to_run()
    {
        await using var vnc = await VncTestDaemon.StartAsync(output, "always");
        var port = await vnc.WaitRaisedAsync();
        await using var x = await Xvfb.StartAsync(output);

        await using (x.Viewer(port, vnc.Pki.CaPath, vnc.PasswordFile!))
        {
            await vnc.Daemon.Log.WaitForLineAsync(l => l.Contains("a stock VNC viewer?", StringComparison.Ordinal), Patience, "the refusal");
        }
        Assert.DoesNotContain(vnc.Daemon.Log.Lines, l => l.Contains("X509Vnc", StringComparison.Ordinal));
        Assert.DoesNotContain(vnc.Daemon.Log.Lines, l => l.Contains("VNC session opened", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_reload_that_opts_in_applies_live_keeping_the_endpoint_its_connected_admin_and_Xvnc_and_then_vncviewer_gets_in_over_X509Vnc()
    {
        await using var vnc = await VncTestDaemon.StartAsync(output, "always");
        var port = await vnc.WaitRaisedAsync();
        var xvnc = VncTestDaemon.Pid(VncTestDaemon.Desktop(await vnc.WaitAsync(s => VncTestDaemon.Pid(VncTestDaemon.Desktop(s), "xvncPid") is not null, "xvncPid")), "xvncPid")!.Value;
        await using var working = await vnc.ConnectAsync(port); // an admin in the desktop during the reload
        await working.HandshakeAsync(VncTestDaemon.Password);
        await vnc.WaitAsync(s => VncTestDaemon.Desktop(s).Details["clients"] == "1", "1 client");

        var endpoint = "endpoint: vnc";
        vnc.Daemon.WriteConfig(vnc.Config.Replace(endpoint, endpoint + "\n  stockViewers: x509vnc", StringComparison.Ordinal));
        vnc.Daemon.Signal(Posix.SIGHUP);
        await vnc.Daemon.WaitForLogAsync("tls/vnc: settings updated live (interval 30s, maxSessions 4, idleTimeout 1h, stockViewers x509vnc)");

        // Nothing restarted: the same endpoint on the same port, the same Xvnc, and the admin's session still relays.
        var status = vnc.Daemon.ReadStatus();
        Assert.Equal(1, VncTestDaemon.Endpoint(status).Starts);
        Assert.Equal(port.ToString(System.Globalization.CultureInfo.InvariantCulture), VncTestDaemon.Endpoint(status).Details["boundPort"]);
        Assert.Equal(xvnc, VncTestDaemon.Pid(VncTestDaemon.Desktop(status), "xvncPid"));
        Assert.DoesNotContain(vnc.Daemon.Log.Lines, l => l.Contains("tls/vnc: changed; restarting it", StringComparison.Ordinal));
        var (pixels, _) = await working.ReadFramebufferAsync(Patience);
        Assert.NotEmpty(pixels);
        Assert.Equal("1", VncTestDaemon.Desktop(vnc.Daemon.ReadStatus()).Details["clients"]);

        await using var x = await Xvfb.StartAsync(output);
        await using var viewer = x.Viewer(port, vnc.Pki.CaPath, vnc.PasswordFile!);
        await vnc.Daemon.WaitForLogLineAsync("VNC session opened by X509Vnc (no client certificate)", 1);
        await x.WaitForWindowAsync($"{VncTestDaemon.Geometry}+", viewer);
    }

    private static async Task WaitForLineAsync(BastiondProcess daemon, string contains, TimeSpan limit)
    {
        var deadline = DateTime.UtcNow + limit;
        while (!daemon.Log.Lines.Any(l => l.Contains(contains, StringComparison.Ordinal)))
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"log never showed '{contains}' within {limit}");
            }
            await Task.Delay(25);
        }
    }

    private static async Task<string> PasswordFileAsync(VncTestDaemon vnc, string password)
    {
        var path = vnc.Pki.Scratch("passwd-" + password);
        var made = await ExternalCommand.RunAsync("/bin/sh", ["-c", $"printf '%s\\n' '{password}' | vncpasswd -f > '{path}'"], Patience);
        Assert.True(made.ExitCode == 0, made.Describe());
        return path;
    }

    /// <summary>An Xvfb on a free display for TigerVNC's vncviewer; killed by pid on dispose.</summary>
    private sealed class Xvfb : IAsyncDisposable
    {
        private readonly Process _process;
        private readonly ITestOutputHelper _output;

        private Xvfb(Process process, int display, ITestOutputHelper output)
        {
            _process = process;
            Display = display;
            _output = output;
        }

        public int Display { get; }

        public static async Task<Xvfb> StartAsync(ITestOutputHelper output)
        {
            var display = VncTestDaemon.FreeDisplay();
            var psi = new ProcessStartInfo("/usr/bin/Xvfb") { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
            foreach (var a in new[] { $":{display}", "-screen", "0", "800x600x24", "-nolisten", "tcp" })
            {
                psi.ArgumentList.Add(a);
            }
            var process = Process.Start(psi) ?? throw new InvalidOperationException("cannot start Xvfb (scripts/install-deps.sh installs xvfb)");
            var x = new Xvfb(process, display, output);
            var deadline = DateTime.UtcNow + Patience;
            while (!File.Exists($"/tmp/.X11-unix/X{display}"))
            {
                if (process.HasExited || DateTime.UtcNow > deadline)
                {
                    await x.DisposeAsync();
                    throw new InvalidOperationException($"Xvfb :{display} did not come up");
                }
                await Task.Delay(100);
            }
            return x;
        }

        public ViewerProcess Viewer(int port, string caPath, string passwordFile)
        {
            var psi = new ProcessStartInfo("/usr/bin/vncviewer") { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
            psi.Environment["DISPLAY"] = $":{Display}";
            foreach (var a in new[] { "-SecurityTypes", "X509Vnc", "-X509CA", caPath, "-X509CRL", "", "-PasswordFile", passwordFile,
                "-Shared", $"127.0.0.1::{port}" })
            {
                psi.ArgumentList.Add(a);
            }
            return new ViewerProcess(Process.Start(psi) ?? throw new InvalidOperationException("cannot start vncviewer"), _output);
        }

        /// <summary>Waits until a window whose xwininfo line contains <paramref name="geometry"/> exists; returns the tree.</summary>
        public async Task<string> WaitForWindowAsync(string geometry, ViewerProcess viewer)
        {
            var deadline = DateTime.UtcNow + Patience;
            while (true)
            {
                var tree = await ExternalCommand.RunAsync("xwininfo", ["-root", "-tree"], Patience, new Dictionary<string, string> { ["DISPLAY"] = $":{Display}" });
                if (tree.StdOut.Split('\n').Any(l => l.Contains(geometry, StringComparison.Ordinal) && !l.Contains("root", StringComparison.Ordinal)))
                {
                    return tree.StdOut;
                }
                Assert.True(DateTime.UtcNow < deadline, $"no {geometry} window on :{Display}\n{tree.StdOut}\n--- vncviewer ---\n{viewer.Log}");
                await Task.Delay(250);
            }
        }

        public async ValueTask DisposeAsync()
        {
            if (!_process.HasExited)
            {
                _process.Kill();
                await _process.WaitForExitAsync().WaitAsync(Patience);
            }
            _process.Dispose();
        }
    }

    /// <summary>One vncviewer; its output is kept for failure messages, and it is killed by pid on dispose.</summary>
    private sealed class ViewerProcess : IAsyncDisposable
    {
        private readonly Process _process;
        private readonly StringBuilder _log = new();
        private readonly ITestOutputHelper _output;

        public ViewerProcess(Process process, ITestOutputHelper output)
        {
            _process = process;
            _output = output;
            _process.OutputDataReceived += (_, e) => Append(e.Data);
            _process.ErrorDataReceived += (_, e) => Append(e.Data);
            _process.BeginOutputReadLine();
            _process.BeginErrorReadLine();
        }

        public string Log
        {
            get
            {
                lock (_log)
                {
                    return _log.ToString();
                }
            }
        }

        private void Append(string? line)
        {
            if (line is not null)
            {
                lock (_log)
                {
                    _log.AppendLine(line);
                }
            }
        }

        public async ValueTask DisposeAsync()
        {
            if (!_process.HasExited)
            {
                _process.Kill();
                await _process.WaitForExitAsync().WaitAsync(Patience);
            }
            _output.WriteLine("--- vncviewer ---\n" + Log);
            _process.Dispose();
        }
    }
}
