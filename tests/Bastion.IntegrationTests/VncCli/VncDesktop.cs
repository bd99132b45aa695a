using System.Globalization;
using Bastion.IntegrationTests.Cli;
using Bastion.IntegrationTests.DBus;
using Bastion.IntegrationTests.Infrastructure;
using Bastion.IntegrationTests.Tls;
using Bastion.Status;
using Xunit.Abstractions;

namespace Bastion.IntegrationTests.VncCli;

/// <summary>
/// A real bastiond on a private dbus-daemon with the emergency desktop configured (real Xvnc on a random free display, an
/// xterm as the session) behind a mutual-TLS endpoint on a fixed loopback port (it stops listening while lowered, so port 0
/// would move), plus a throwaway session CA with the admin's client certificate. In mode fallback an sshd fixture is the
/// checked peer. Stopped with SIGTERM on dispose (so bastiond lowers the desktop itself), killed if it does not exit.
/// </summary>
internal sealed class VncDesktop : IAsyncDisposable
{
    public const string Geometry = "800x600";
    public const int Width = 800;
    public const int Height = 600;

    private VncDesktop(BastionOnBus env, TestPki pki, Sshd? sshd, int display, int port)
    {
        Env = env;
        Pki = pki;
        Sshd = sshd;
        Display = display;
        Port = port;
    }

    public BastionOnBus Env { get; }
    public BastiondProcess Daemon => Env.Daemon;
    public TestPki Pki { get; }
    public Sshd? Sshd { get; }
    public int Display { get; }

    /// <summary>The mutual-TLS endpoint's port on 127.0.0.1.</summary>
    public int Port { get; }

    public string Address => $"127.0.0.1:{Port.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>The password file bastiond generates (vnc.passwordFile unset).</summary>
    public string PasswordFile => Path.Combine(Daemon.StateDir, "vnc", "passwd");

    /// <summary>
    /// mode always: raised at start, no check needed. mode fallback: a real sshd is the checked peer (healthy, so the desktop
    /// starts lowered); the check probes every second and the grace period is <paramref name="grace"/>.
    /// </summary>
    public static async Task<VncDesktop> StartAsync(ITestOutputHelper output, string mode, string grace = "2s")
    {
        var pki = new TestPki();
        Sshd? sshd = null;
        BastionOnBus? env = null;
        try
        {
            if (mode == "fallback")
            {
                sshd = await Sshd.StartAsync(pki.Scratch(""), output);
            }
            var display = Vnc.VncTestDaemon.FreeDisplay();
            var port = FreePort.Pick();
            env = await BastionOnBus.StartAsync(output, Config(pki, sshd, mode, display, port, grace));
            return new VncDesktop(env, pki, sshd, display, port);
        }
        catch
        {
            if (env is not null)
            {
                await env.DisposeAsync();
            }
            if (sshd is not null)
            {
                await sshd.DisposeAsync();
            }
            pki.Dispose();
            throw;
        }
    }

    private static string Config(TestPki pki, Sshd? sshd, string mode, int display, int port, string grace)
    {
        var check = sshd is null ? "" : $"""
            checks:
              - name: sshd
                endpoint: 127.0.0.1:{sshd.Port}
                interval: 1s
                timeout: 500ms
                failures: 1

            """;
        var fallback = sshd is null ? "" : $"""
              fallback:
                check: sshd
                failures: 1
                grace: {grace}

            """;
        return check + $"""
            vnc:
              mode: {mode}
              display: {display}
              geometry: {Geometry}
              session: [/usr/bin/xterm, -e, /bin/sh, -c, "sleep 3600"]
              endpoint: vnc
            {fallback}pki:
              dir: {pki.Dir}
            tls:
              - name: vnc
                mode: listen
                address: 127.0.0.1:{port}
                certificate: {pki.Server.CertificatePath}
                key: {pki.Server.KeyPath}

            """;
    }

    public static ComponentStatus? Desktop(StatusSnapshot status) => status.Components.FirstOrDefault(c => c.Kind == "vnc");

    /// <summary>Waits until the vnc component satisfies the condition (status.json, polled).</summary>
    public async Task<ComponentStatus> WaitForDesktopAsync(Func<ComponentStatus, bool> condition, string what, TimeSpan? timeout = null)
    {
        var status = await Daemon.WaitForStatusAsync(s => Desktop(s) is { } d && condition(d), what, timeout);
        return Desktop(status)!;
    }

    /// <summary>Raised and answering: Running, desired raised, the endpoint listening.</summary>
    public Task<ComponentStatus> WaitUntilRaisedAsync(TimeSpan? timeout = null) =>
        WaitForDesktopAsync(d => d.State == "Running" && Detail(d, "desired") == "raised"
            && Daemon.ReadStatus().Components.Any(c => c.Kind == "tls" && c.Name == "vnc" && c.State == "Running"),
            "the desktop raised (Running, desired raised, tls/vnc Running)", timeout);

    public Task<ComponentStatus> WaitUntilLoweredAsync(TimeSpan? timeout = null) =>
        WaitForDesktopAsync(d => d.State == "Standby" && Detail(d, "desired") == "lowered", "the desktop lowered (Standby)", timeout);

    public static string? Detail(ComponentStatus c, string key) => c.Details.TryGetValue(key, out var v) ? v : null;

    /// <summary>bastionctl ARGS against this daemon (the private bus as the system bus).</summary>
    public Task<BastionctlRun> CtlAsync(params string[] args) => Env.CtlAsync(args);

    /// <summary><c>bastionctl vnc probe --connect</c> through the endpoint with the admin's certificate.</summary>
    public Task<BastionctlRun> ProbeAsync(string passwordFile, string timeout = "10s") =>
        Bastionctl.RunAsync(
            ["vnc", "probe", "--connect", Address, "--cert", Pki.Admin.CertificatePath, "--key", Pki.Admin.KeyPath, "--ca", Pki.CaPath,
             "--password-file", passwordFile, "--timeout", timeout], null, null);

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (Daemon.Process is { HasExited: false })
            {
                // SIGTERM: bastiond stops Xvnc itself (its lock file and socket go with it); killed below if it hangs.
                Daemon.Signal(Posix.SIGTERM);
                try
                {
                    await Daemon.WaitForExitAsync(TimeSpan.FromSeconds(20));
                }
                catch (TimeoutException)
                {
                    // killed by the fixture below
                }
            }
        }
        finally
        {
            await Env.DisposeAsync();
            if (Sshd is not null)
            {
                await Sshd.DisposeAsync();
            }
            Pki.Dispose();
        }
    }
}
