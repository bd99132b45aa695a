using System.Globalization;
using Bastion.IntegrationTests.Infrastructure;
using Bastion.IntegrationTests.Tls;
using Bastion.Pki;
using Bastion.Status;
using Xunit.Abstractions;

namespace Bastion.IntegrationTests.Vnc;

/// <summary>
/// bastiond with the emergency desktop (real Xvnc on a free display in 100–899, a small test session: an xterm running
/// sleep), its mTLS endpoint on a free port, a throwaway session CA, and a VNC password file made by the real vncpasswd.
/// Dispose stops bastiond with SIGTERM (it stops Xvnc itself); as a safety net every Xvnc pid seen in status that is
/// still alive afterwards is killed, and only its own display's stale lock files are removed.
/// </summary>
internal sealed class VncTestDaemon : IAsyncDisposable
{
    public const string Password = "s3cret-x"; // 8 characters: all of it counts
    public const string Geometry = "320x240";
    private readonly HashSet<int> _xvncPids = [];

    private VncTestDaemon(BastiondProcess daemon, TestPki pki, int display, string? passwordFile, string config)
    {
        Config = config;
        Daemon = daemon;
        Pki = pki;
        Display = display;
        PasswordFile = passwordFile;
    }

    public BastiondProcess Daemon { get; }
    public TestPki Pki { get; }
    public int Display { get; }

    /// <summary>The config body bastiond was started with (without paths:), for a test that reloads a changed one.</summary>
    public string Config { get; }

    /// <summary>The vncpasswd-made file, or null when bastiond generates its own.</summary>
    public string? PasswordFile { get; }

    /// <param name="mode">always or fallback.</param>
    /// <param name="sshdPort">For fallback: the port the sshd check watches.</param>
    /// <param name="grace">vnc.fallback.grace.</param>
    /// <param name="generatedPassword">Leave vnc.passwordFile out (bastiond generates one in the state dir).</param>
    /// <param name="tlsExtra">More lines for the tls entry (indented 4).</param>
    /// <param name="display">A display to use (default: a free one).</param>
    /// <param name="session">vnc.session as YAML (default: an xterm that draws something and waits).</param>
    /// <param name="vncExtra">More lines for the vnc: section (indented 2).</param>
    /// <param name="beforeStart">Runs after the daemon's dirs are chosen, before it starts (a test that prepares them).</param>
    public static async Task<VncTestDaemon> StartAsync(ITestOutputHelper output, string mode, int? sshdPort = null, string grace = "2s",
        bool generatedPassword = false, string tlsExtra = "", int? display = null, string vncExtra = "", Action<BastiondProcess>? beforeStart = null,
        string session = "[/usr/bin/xterm, -geometry, \"30x6+8+8\", -e, /bin/sh, -c, \"echo emergency desktop; exec sleep 3600\"]", string geometry = Geometry)
    {
        var pki = new TestPki();
        var n = display ?? FreeDisplay();
        string? passwordFile = null;
        if (!generatedPassword)
        {
            passwordFile = pki.Scratch("vnc-passwd");
            var made = await ExternalCommand.RunAsync("/bin/sh", ["-c", $"printf '%s\\n' '{Password}' | vncpasswd -f > '{passwordFile}'"], TimeSpan.FromSeconds(20));
            Assert.True(made.ExitCode == 0 && new FileInfo(passwordFile).Length == 8, "vncpasswd -f failed (scripts/install-deps.sh installs tigervnc-tools)\n" + made.Describe());
            File.SetUnixFileMode(passwordFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
        var config = $"""
            pki:
              dir: {pki.Dir}
            supervision:
              backoff:
                initial: 200ms
                max: 2s
            tls:
              - name: vnc
                mode: listen
                address: 127.0.0.1:0
                certificate: {pki.Server.CertificatePath}
                key: {pki.Server.KeyPath}
            {tlsExtra}
            vnc:
              mode: {mode}
              display: {n}
              geometry: {geometry}
            {(session.Length == 0 ? "" : "  session: " + session)}
              endpoint: vnc
            {(passwordFile is null ? "" : "  passwordFile: " + passwordFile)}
            {vncExtra}
            {(mode == "fallback" ? $"  fallback:\n    check: sshd\n    failures: 2\n    grace: {grace}" : "")}
            {(sshdPort is { } port ? Bastion.IntegrationTests.Daemon.Checks.One("sshd", port) : "")}
            dbus:
              bus: none
            """;
        var daemon = new BastiondProcess(output, config);
        var vnc = new VncTestDaemon(daemon, pki, n, passwordFile, config);
        try
        {
            beforeStart?.Invoke(daemon);
            await daemon.StartAndWaitReadyAsync();
            return vnc;
        }
        catch
        {
            await vnc.DisposeAsync();
            throw;
        }
    }

    /// <summary>A display in 100–899 with no X lock or socket, picked at random so parallel tests do not collide.</summary>
    public static int FreeDisplay()
    {
        for (var attempt = 0; attempt < 200; attempt++)
        {
            var n = Random.Shared.Next(100, 900);
            if (!File.Exists($"/tmp/.X{n}-lock") && !File.Exists($"/tmp/.X11-unix/X{n}"))
            {
                return n;
            }
        }
        throw new InvalidOperationException("no free X display in 100–899");
    }

    public string PasswordInUse => PasswordFile is null
        ? Bastion.Vnc.VncPasswordFile.Read(Path.Combine(Daemon.StateDir, "vnc", "passwd"))
        : Password;

    public static ComponentStatus Desktop(StatusSnapshot status) => status.Components.Single(c => c.Kind == "vnc" && c.Name == "desktop");

    public static ComponentStatus Endpoint(StatusSnapshot status) => status.Components.Single(c => c.Kind == "tls" && c.Name == "vnc");

    /// <summary>Waits until the desktop (and the condition) holds; remembers Xvnc pids for the safety net.</summary>
    public async Task<StatusSnapshot> WaitAsync(Func<StatusSnapshot, bool> condition, string what, TimeSpan? timeout = null) =>
        await Daemon.WaitForStatusAsync(s =>
        {
            Remember(s);
            return condition(s);
        }, what, timeout);

    /// <summary>Waits until the desktop is up and the endpoint listens; returns the endpoint's port.</summary>
    public async Task<int> WaitRaisedAsync(TimeSpan? timeout = null)
    {
        var status = await WaitAsync(s => Desktop(s).State == "Running" && Endpoint(s).State == "Running"
            && int.TryParse(Endpoint(s).Details.GetValueOrDefault("boundPort"), out _), "vnc/desktop and tls/vnc Running", timeout);
        return int.Parse(Endpoint(status).Details["boundPort"], CultureInfo.InvariantCulture);
    }

    public async Task<RfbTlsClient> ConnectAsync(int port, IssueResult? identity = null) =>
        await RfbTlsClient.ConnectAsync(port, Pki.CaPath, identity ?? Pki.Admin);

    public static int? Pid(ComponentStatus desktop, string key) =>
        int.TryParse(desktop.Details.GetValueOrDefault(key), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) ? pid : null;

    public static bool IsAlive(int pid) => Directory.Exists($"/proc/{pid}") && !File.ReadAllText($"/proc/{pid}/stat").Contains(") Z ", StringComparison.Ordinal);

    private void Remember(StatusSnapshot status)
    {
        if (status.Components.FirstOrDefault(c => c.Kind == "vnc") is { } desktop && Pid(desktop, "xvncPid") is { } pid)
        {
            lock (_xvncPids)
            {
                _xvncPids.Add(pid);
            }
        }
    }

    /// <summary>SIGTERM, then waits for bastiond to exit (it stops Xvnc and the session first).</summary>
    public async Task<int> StopAsync()
    {
        Daemon.Signal(Posix.SIGTERM);
        return await Daemon.WaitForExitAsync(TimeSpan.FromSeconds(20));
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (Daemon.Process is { HasExited: false })
            {
                await StopAsync();
            }
        }
        catch (Exception e) when (e is InvalidOperationException or TimeoutException)
        {
            // not started, or hung: BastiondProcess kills it below
        }
        await Daemon.DisposeAsync();
        int[] pids;
        lock (_xvncPids)
        {
            pids = [.. _xvncPids];
        }
        foreach (var pid in pids.Where(IsAlive))
        {
            if (File.ReadAllText($"/proc/{pid}/cmdline").StartsWith("/usr/bin/Xvnc", StringComparison.Ordinal))
            {
                System.Diagnostics.Process.GetProcessById(pid).Kill(); // ours: a safety net, by pid
            }
        }
        var lockFile = $"/tmp/.X{Display}-lock";
        if (File.Exists(lockFile) && int.TryParse(File.ReadAllText(lockFile).Trim(), out var holder) && pids.Contains(holder) && !IsAlive(holder))
        {
            File.Delete(lockFile);
            File.Delete($"/tmp/.X11-unix/X{Display}");
        }
        Pki.Dispose();
    }
}

internal static class VncLogWaits
{
    /// <summary>Waits for the <paramref name="occurrence"/>-th log line containing <paramref name="contains"/> and returns it.</summary>
    public static async Task<string> WaitForLogLineAsync(this BastiondProcess daemon, string contains, int occurrence)
    {
        var deadline = DateTime.UtcNow + BastiondProcess.Patience;
        while (true)
        {
            var lines = daemon.Log.Lines.Where(l => l.Contains(contains, StringComparison.Ordinal)).ToList();
            if (lines.Count >= occurrence)
            {
                return lines[occurrence - 1];
            }
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"log never showed '{contains}' {occurrence} time(s)\n{daemon.Log}");
            }
            await Task.Delay(25);
        }
    }
}
