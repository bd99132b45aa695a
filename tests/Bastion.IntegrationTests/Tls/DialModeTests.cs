using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Bastion.IntegrationTests.Cli;
using Bastion.IntegrationTests.Infrastructure;
using Xunit.Abstractions;

namespace Bastion.IntegrationTests.Tls;

/// <summary>
/// Mode dial ("phones home") against real listeners: bastionctl connect --listen and a python ssl listener that holds its
/// sessions and is frozen with SIGSTOP. Nobody listening is the normal state; one frozen session must not stop the phoning home.
/// </summary>
public sealed partial class DialModeTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(1); // TlsConfig.Endpoint's interval

    /// <summary>The dialled socket's TCP keepalive bound (15 s idle + 3 × 5 s probes), as TlsEndpoint sets it.</summary>
    private static readonly TimeSpan KeepaliveBound = TimeSpan.FromSeconds(30);

    private static string DialConfig(TestPki pki, string backend, int home, string settings = "") =>
        TlsConfig.Endpoint(pki, backend, mode: "dial", address: $"127.0.0.1:{home}")
            .Replace("    interval: 1s\n", "    interval: 1s\n" + settings, StringComparison.Ordinal);

    [Fact]
    public async Task Nobody_listening_is_a_healthy_dialing_state_counted_up_that_no_health_tick_flips()
    {
        using var pki = new TestPki();
        await using var backend = EchoBackend.Tcp();
        var home = FreePort.Pick();
        await using var daemon = new BastiondProcess(output, DialConfig(pki, backend.Address, home));
        await daemon.StartAndWaitReadyAsync();

        // The endpoint's health tick runs every 30 s: watch for more than two of them.
        var attempts = new List<long>();
        string? since = null;
        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < TimeSpan.FromSeconds(66))
        {
            await Task.Delay(TimeSpan.FromSeconds(3));
            var status = daemon.ReadStatus();
            var endpoint = TlsDaemon.Endpoint(status, "vnc")!;
            var match = DialingReason().Match(endpoint.Reason);
            Assert.True(endpoint.State == "Running" && match.Success,
                $"at {watch.Elapsed.TotalSeconds:F0}s: {endpoint.State} ({endpoint.Reason})");
            Assert.Equal($"127.0.0.1:{home}", match.Groups["target"].Value);
            since ??= match.Groups["since"].Value;
            Assert.Equal(since, match.Groups["since"].Value); // since the first refusal, not since the last tick
            attempts.Add(long.Parse(match.Groups["attempt"].Value, CultureInfo.InvariantCulture));
            Assert.Equal("tls endpoints 1/1 up", status.Daemon.Summary);
            Assert.Equal("NoListener", endpoint.Details["lastAttempt"]);
            Assert.Equal(1, endpoint.Starts);
        }
        Assert.True(attempts.Zip(attempts.Skip(1)).All(p => p.Second >= p.First), string.Join(",", attempts));
        Assert.True(attempts[^1] - attempts[0] >= 20, $"attempts at 1s over ~60s: {string.Join(",", attempts)}");
        Assert.DoesNotContain(daemon.Log.Lines, l => l.Contains("tls/vnc: Running -> Degraded", StringComparison.Ordinal));
        // STATUS=: from the first "up" on, never anything else (no flapping to Degraded or back).
        var statuses = daemon.Notify.All.Select(n => n.Get("STATUS")).OfType<string>().ToList();
        Assert.Equal(["tls endpoints 1/1 up"], statuses.SkipWhile(s => s != "tls endpoints 1/1 up").Distinct());
        // Months of nobody listening are not a log line per attempt: one for the first refusal.
        Assert.Single(daemon.Log.Lines, l => l.Contains("phoning home to", StringComparison.Ordinal) && l.Contains("connection refused", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_listener_that_froze_holding_its_session_does_not_stop_the_phoning_home()
    {
        using var pki = new TestPki();
        await using var backend = EchoBackend.Tcp();
        var home = FreePort.Pick();
        // The admin's first listener takes one session, gives up the port (as if its laptop had moved on) and freezes.
        await using var frozen = await PythonTlsListener.StartAsync(output, home, pki.Admin, pki.CaPath, closeAfterFirst: true);
        await using var daemon = new BastiondProcess(output, DialConfig(pki, backend.Address, home));
        await daemon.StartAndWaitReadyAsync();
        await frozen.Log.WaitForLineAsync(l => l.StartsWith("session 1", StringComparison.Ordinal), Patience, "first session");

        // TCP keepalive is on, with seconds, on the dialled connection (ss shows its timer). ss shows one timer per
        // socket: while bytes just sent wait for their ACK it shows the retransmission timer ("on") instead, so look
        // again until the connection is quiet.
        var ss = await ExternalCommand.RunAsync("ss", ["-tnoH", "state", "established", $"( dport = :{home} )"], TimeSpan.FromSeconds(20));
        for (var look = 0; look < 20 && !ss.Output.Contains("timer:(keepalive,", StringComparison.Ordinal); look++)
        {
            await Task.Delay(250);
            ss = await ExternalCommand.RunAsync("ss", ["-tnoH", "state", "established", $"( dport = :{home} )"], TimeSpan.FromSeconds(20));
        }
        output.WriteLine(ss.Describe());
        Assert.Contains("timer:(keepalive,", ss.Output, StringComparison.Ordinal);

        Posix.Signal(frozen.Pid, Posix.SIGSTOP);
        var frozenAt = Stopwatch.StartNew();
        await using var next = await ConnectProcess.ListenAsync(output, $"127.0.0.1:{home}", pki.Admin, pki.CaPath);
        await next.Log.WaitForLineAsync(l => l.Contains($"server CN=srv serial {pki.Server.Entry.Serial}", StringComparison.Ordinal), Patience, "the next listener reached");
        var reachedAfter = frozenAt.Elapsed;
        output.WriteLine($"next listener reached {reachedAfter.TotalSeconds:F1}s after the first froze");
        Assert.True(reachedAfter <= 2 * Interval + KeepaliveBound, $"reached after {reachedAfter}");
        Assert.Equal("through", await next.RoundTripAsync("through"));

        var status = await daemon.WaitForStatusAsync(s => int.Parse(TlsDaemon.Endpoint(s, "vnc")!.Details.GetValueOrDefault("sessionsOpened", "0"), CultureInfo.InvariantCulture) >= 2, "two sessions opened");
        var endpoint = TlsDaemon.Endpoint(status, "vnc")!;
        Assert.Equal("Running", endpoint.State);
        Assert.Equal(1, endpoint.Starts);
    }

    [Fact]
    public async Task A_session_whose_listener_host_went_silent_is_dropped_within_the_keepalive_bound()
    {
        using var pki = new TestPki();
        // Both ends in a network namespace of their own, whose loopback the test can cut without touching anything else.
        await using var network = await PrivateNetwork.CreateAsync();
        var home = FreePort.Pick();
        // The backend on a Unix socket: a filesystem path reaches into the namespace, a TCP port in ours would not.
        await using var backend = EchoBackend.Unix(pki.Scratch("echo.sock"));
        await using var listener = await PythonTlsListener.StartAsync(output, home, pki.Admin, pki.CaPath, wrapper: network.Wrapper);
        await using var daemon = new BastiondProcess(output, DialConfig(pki, backend.Address, home)) { Wrapper = network.Wrapper };
        await daemon.StartAndWaitReadyAsync();
        await listener.Log.WaitForLineAsync(l => l.StartsWith("session 1", StringComparison.Ordinal), Patience, "first session");
        await daemon.WaitForStatusAsync(s => TlsDaemon.Endpoint(s, "vnc")!.Details.GetValueOrDefault("sessions") == "1", "one session open");

        await network.CutAsync(); // no FIN, no reset: the listener's host is gone as far as the daemon can tell
        var cutAt = Stopwatch.StartNew();
        var closed = await daemon.Log.WaitForLineAsync(l => l.Contains("tls/vnc: closed", StringComparison.Ordinal), KeepaliveBound + Patience, "the dead session closed");
        output.WriteLine($"dead session closed {cutAt.Elapsed.TotalSeconds:F1}s after the network was cut: {closed}");
        Assert.True(cutAt.Elapsed <= KeepaliveBound + TimeSpan.FromSeconds(10), $"closed after {cutAt.Elapsed}");
        Assert.Contains("TimedOut", closed, StringComparison.Ordinal);
        await daemon.WaitForStatusAsync(s => TlsDaemon.Endpoint(s, "vnc")!.Details.GetValueOrDefault("sessions") == "0", "its slot freed");
    }

    [Fact]
    public async Task Sessions_at_the_limit_stop_the_dialling_and_every_skipped_dial_is_counted()
    {
        using var pki = new TestPki();
        await using var backend = EchoBackend.Tcp();
        var home = FreePort.Pick();
        await using var listener = await PythonTlsListener.StartAsync(output, home, pki.Admin, pki.CaPath);
        await using var daemon = new BastiondProcess(output, DialConfig(pki, backend.Address, home, "    maxSessions: 2\n"));
        await daemon.StartAndWaitReadyAsync();

        await listener.Log.WaitForLineAsync(l => l.StartsWith("session 2", StringComparison.Ordinal), Patience, "two sessions");
        var status = await daemon.WaitForStatusAsync(
            s => TlsDaemon.Endpoint(s, "vnc")!.Details.GetValueOrDefault("dialPhase") == "AtLimit"
                && long.Parse(TlsDaemon.Endpoint(s, "vnc")!.Details.GetValueOrDefault("skippedAtLimit", "0"), CultureInfo.InvariantCulture) >= 4,
            "at the limit, 4 dials skipped");
        var endpoint = TlsDaemon.Endpoint(status, "vnc")!;
        Assert.Equal("2", endpoint.Details["sessions"]);
        Assert.Equal("2", endpoint.Details["maxSessions"]);
        Assert.Equal("Running", endpoint.State);
        Assert.Equal($"connected: 2 sessions open with 127.0.0.1:{home}, the limit (maxSessions 2): not dialling until one closes, relaying to {backend.Address}", endpoint.Reason);
        Assert.Equal(2, listener.Sessions); // no third connection reached the listener
        Assert.DoesNotContain(listener.Log.Lines, l => l.StartsWith("refused", StringComparison.Ordinal));
        Assert.Equal("tls endpoints 1/1 up", status.Daemon.Summary);
    }

    [Fact]
    public async Task A_frozen_session_is_closed_after_the_idle_limit_and_the_listener_is_reached_again_once_it_continues()
    {
        using var pki = new TestPki();
        await using var backend = EchoBackend.Tcp();
        var home = FreePort.Pick();
        await using var listener = await PythonTlsListener.StartAsync(output, home, pki.Admin, pki.CaPath);
        await using var daemon = new BastiondProcess(output, DialConfig(pki, backend.Address, home, "    maxSessions: 1\n    idleTimeout: 3s\n"));
        await daemon.StartAndWaitReadyAsync();
        await listener.Log.WaitForLineAsync(l => l.StartsWith("session 1", StringComparison.Ordinal), Patience, "first session");

        Posix.Signal(listener.Pid, Posix.SIGSTOP); // the admin's laptop froze; its kernel still answers TCP
        var frozenAt = Stopwatch.StartNew();
        var closed = await daemon.WaitForLogAsync("idle: no byte either way for 3s");
        output.WriteLine($"idle session closed {frozenAt.Elapsed.TotalSeconds:F1}s after the freeze: {closed}");
        Assert.True(frozenAt.Elapsed < TimeSpan.FromSeconds(3 * 1.25 + 10), $"closed after {frozenAt.Elapsed}");

        await Task.Delay(TimeSpan.FromSeconds(2));
        Posix.Signal(listener.Pid, Posix.SIGCONT);
        var continuedAt = Stopwatch.StartNew();
        await listener.Log.WaitForLineAsync(l => l.StartsWith("session 2", StringComparison.Ordinal), Patience, "a new session once the listener continues");
        output.WriteLine($"listener reached again {continuedAt.Elapsed.TotalSeconds:F1}s after SIGCONT");
        // Connections dialled while it was frozen waited in its backlog and were given up after the 5 s handshake limit.
        Assert.True(continuedAt.Elapsed <= 2 * Interval + TimeSpan.FromSeconds(5) + TimeSpan.FromSeconds(10), $"reached after {continuedAt.Elapsed}");
        var status = await daemon.WaitForStatusAsync(s => TlsDaemon.Endpoint(s, "vnc")!.Details.GetValueOrDefault("sessionsOpened") == "2", "two sessions opened");
        Assert.Equal("Running", TlsDaemon.Endpoint(status, "vnc")!.State);
    }

    [Fact]
    public async Task A_reload_of_interval_maxSessions_and_idleTimeout_applies_live_keeping_the_open_session_which_then_gets_the_new_idle_limit()
    {
        using var pki = new TestPki();
        await using var backend = EchoBackend.Tcp();
        var home = FreePort.Pick();
        await using var listener = await PythonTlsListener.StartAsync(output, home, pki.Admin, pki.CaPath);
        await using var daemon = new BastiondProcess(output, DialConfig(pki, backend.Address, home, "    maxSessions: 1\n"));
        await daemon.StartAndWaitReadyAsync();
        await listener.Log.WaitForLineAsync(l => l.StartsWith("session 1", StringComparison.Ordinal), Patience, "first session");
        await daemon.WaitForStatusAsync(s => TlsDaemon.Endpoint(s, "vnc")!.Details.GetValueOrDefault("dialPhase") == "AtLimit", "at the limit of 1");

        daemon.WriteConfig(DialConfig(pki, backend.Address, home, "    maxSessions: 3\n")
            .Replace("    interval: 1s\n", "    interval: 2s\n", StringComparison.Ordinal));
        var reload = await Bastionctl.RunAsync("--config", daemon.ConfigPath, "reload");
        Assert.True(reload.ExitCode == 0, reload.ToString());
        await daemon.WaitForLogAsync("tls/vnc: settings updated live (interval 2s, maxSessions 3, idleTimeout 1h, stockViewers explain)");

        // Not restarted: the session opened before the reload is still open, and the new limit lets two more in.
        await listener.Log.WaitForLineAsync(l => l.StartsWith("session 3", StringComparison.Ordinal), Patience, "sessions 2 and 3 under maxSessions 3");
        var status = await daemon.WaitForStatusAsync(s => TlsDaemon.Endpoint(s, "vnc")!.Details.GetValueOrDefault("sessions") == "3"
            && TlsDaemon.Endpoint(s, "vnc")!.Reason.Contains("the limit (maxSessions 3)", StringComparison.Ordinal), "three sessions open, at the new limit");
        var endpoint = TlsDaemon.Endpoint(status, "vnc")!;
        Assert.Equal(1, endpoint.Starts);
        Assert.Equal("3", endpoint.Details["maxSessions"]);
        Assert.DoesNotContain(daemon.Log.Lines, l => l.Contains("tls/vnc: closed", StringComparison.Ordinal));

        // A second reload lowers the idle limit: it reaches the sessions already open (all three are silent).
        daemon.WriteConfig(DialConfig(pki, backend.Address, home, "    maxSessions: 3\n    idleTimeout: 4s\n")
            .Replace("    interval: 1s\n", "    interval: 2s\n", StringComparison.Ordinal));
        reload = await Bastionctl.RunAsync("--config", daemon.ConfigPath, "reload");
        Assert.True(reload.ExitCode == 0, reload.ToString());
        await daemon.WaitForLogAsync("tls/vnc: settings updated live (interval 2s, maxSessions 3, idleTimeout 4s, stockViewers explain)");
        var closedAt = Stopwatch.StartNew();
        while (daemon.Log.Lines.Count(l => l.Contains("idle: no byte either way for 4s", StringComparison.Ordinal)) < 3)
        {
            Assert.True(closedAt.Elapsed < Patience, "three sessions closed as idle");
            await Task.Delay(200);
        }
        output.WriteLine($"idle sessions closed within {closedAt.Elapsed.TotalSeconds:F1}s");
        Assert.Equal(1, TlsDaemon.Endpoint(daemon.ReadStatus(), "vnc")!.Starts);
    }

    [Fact]
    public async Task Connect_listen_once_exits_1_with_the_reason_when_the_server_that_phoned_refuses_our_certificate()
    {
        using var pki = new TestPki();
        var friend = pki.Client("friend");
        var revoke = await Bastionctl.RunAsync("pki", "--dir", pki.Dir, "revoke", "friend");
        Assert.True(revoke.ExitCode == 0, revoke.ToString());
        await using var backend = EchoBackend.Tcp();
        var home = FreePort.Pick();
        await using var daemon = new BastiondProcess(output, DialConfig(pki, backend.Address, home));
        await daemon.StartAndWaitReadyAsync();

        await using (var refused = await ConnectProcess.ListenAsync(output, $"127.0.0.1:{home}", friend, pki.CaPath, "--once"))
        {
            Assert.Equal(1, await refused.WaitForExitAsync(Patience));
            Assert.Contains(refused.Log.Lines, l => l.Contains("refused by the server at", StringComparison.Ordinal)
                && l.Contains("the server closed the connection right after the handshake: it refused our certificate (revoked, another CA) or rate-limited us", StringComparison.Ordinal));
            Assert.DoesNotContain(refused.Log.Lines, l => l.Contains("waiting for a local client", StringComparison.Ordinal));
        }
        Assert.Contains($"serial {friend.Entry.Serial}: certificate revoked", await daemon.WaitForLogAsync("tls/vnc: refused"), StringComparison.Ordinal);

        // The control: the admin's certificate, same command, is offered the session and exits 0 after relaying it.
        await using var admin = await ConnectProcess.ListenAsync(output, $"127.0.0.1:{home}", pki.Admin, pki.CaPath, "--once");
        await admin.Log.WaitForLineAsync(l => l.Contains("waiting for a local client", StringComparison.Ordinal), Patience, "session offered");
        Assert.Equal("fine", await admin.RoundTripAsync("fine"));
        Assert.Equal(0, await admin.WaitForExitAsync(Patience));
    }

    [Fact]
    public async Task Connect_listen_skips_the_calls_the_server_gave_up_while_it_was_busy_and_takes_the_next_one()
    {
        using var pki = new TestPki();
        await using var backend = EchoBackend.Tcp();
        await using var admin = await ConnectProcess.ListenAsync(output, "127.0.0.1:0", pki.Admin, pki.CaPath);
        await using var daemon = new BastiondProcess(output, DialConfig(pki, backend.Address, admin.ListenPort));
        await daemon.StartAndWaitReadyAsync();
        await admin.Log.WaitForLineAsync(l => l.Contains("waiting for a local client", StringComparison.Ordinal), Patience, "first session offered");

        // A long session: meanwhile the server keeps calling every second, and gives each unanswered call up after 5 s.
        using (var held = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp))
        {
            using var limit = new CancellationTokenSource(Patience);
            await held.ConnectAsync("127.0.0.1", admin.LocalPort, limit.Token);
            await Task.Delay(TimeSpan.FromSeconds(8), limit.Token);
            Assert.Equal("held", await EchoRoundTrip.RunAsync(held, "held", limit.Token));
        }
        Assert.Equal("next", await admin.RoundTripAsync("next"));
        Assert.Contains(admin.Log.Lines, l => l.Contains("skipped a call from", StringComparison.Ordinal));
        Assert.DoesNotContain(admin.Log.Lines, l => l.Contains("refused", StringComparison.Ordinal));
    }

    [GeneratedRegex(@"^dialing: no listener at (?<target>\S+) since (?<since>\S+), attempt (?<attempt>\d+) \(every 1s\), relaying to ")]
    private static partial Regex DialingReason();
}
