using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Bastion.IntegrationTests.Infrastructure;
using Xunit.Abstractions;
using static Bastion.IntegrationTests.Tunnels.TunnelYaml;

namespace Bastion.IntegrationTests.Tunnels;

/// <summary>What a tunnel does when the server is wrong, gone, hung or busy: a state with a reason, then recovery.</summary>
public sealed class FailureTests(ITestOutputHelper output)
{
    private const string OtherFingerprint = "SHA256:f+MBIWY78I2QFpPR3dFB27DxF/+3SHAxu+2DvHOv1M8";

    [Fact]
    public async Task A_wrong_host_key_is_refused_with_both_fingerprints_logged_as_a_security_event_and_not_retried_soon()
    {
        await using var sshd = await Sshd.StartAsync(Path.GetTempPath(), output);
        var key = await sshd.CreateUserKeyAsync();
        await using var daemon = new BastiondProcess(output, TunnelsYaml(
            Item("pinned", "local", sshd, key, "127.0.0.1:0", "127.0.0.1:22", hostKey: $"fingerprints: [\"{OtherFingerprint}\"]")));
        await daemon.StartAndWaitReadyAsync();
        var failed = await daemon.WaitForComponentAsync("pinned", "Failed");
        Assert.StartsWith($"host key mismatch: the server presented ssh-ed25519 {sshd.HostKeyFingerprint}; expected pinned {OtherFingerprint}", failed.Reason, StringComparison.Ordinal);
        Assert.Contains("retried every 5m", failed.Reason, StringComparison.Ordinal);
        await daemon.Log.WaitForLineAsync(l => l.Contains("SECURITY", StringComparison.Ordinal) && l.Contains(sshd.HostKeyFingerprint, StringComparison.Ordinal)
            && l.Contains(OtherFingerprint, StringComparison.Ordinal), BastiondProcess.Patience, "security event");

        await Task.Delay(TimeSpan.FromSeconds(3)); // far longer than the tunnel's 100ms backoff
        var later = daemon.ReadStatus().Components.Single();
        Assert.Equal(1, later.Starts);
        // One connection per host key type the server has (it is asked for another type before a mismatch is declared).
        Assert.Equal(2, sshd.LogLines.Count(l => l.StartsWith("[sshd] Connection from", StringComparison.Ordinal)));
        Assert.Contains(sshd.LogLines, l => l.Contains("no matching host key type found", StringComparison.Ordinal));
        Assert.DoesNotContain(sshd.LogLines, l => l.Contains("Accepted publickey", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_user_key_the_server_does_not_accept_is_reported_as_authentication_rejected_without_a_retry_storm()
    {
        await using var sshd = await Sshd.StartAsync(Path.GetTempPath(), output);
        var key = await sshd.CreateUserKeyAsync(authorize: false);
        await using var daemon = new BastiondProcess(output, TunnelsYaml(Item("nokey", "local", sshd, key, "127.0.0.1:0", "127.0.0.1:22")));
        await daemon.StartAndWaitReadyAsync();
        var failed = await daemon.WaitForComponentAsync("nokey", "Failed");
        Assert.StartsWith($"authentication rejected: 127.0.0.1:{sshd.Port} did not accept user {Sshd.User} with the key {key}", failed.Reason, StringComparison.Ordinal);
        await Task.Delay(TimeSpan.FromSeconds(3));
        Assert.Equal(1, daemon.ReadStatus().Components.Single().Starts);
        Assert.Single(sshd.LogLines, l => l.StartsWith("[sshd] Connection from", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_hashed_known_hosts_entry_for_host_and_port_is_accepted()
    {
        await using var sshd = await Sshd.StartAsync(Path.GetTempPath(), output);
        var key = await sshd.CreateUserKeyAsync();
        var knownHosts = Path.Combine(sshd.Dir, "known_hosts");
        var pub = (await File.ReadAllTextAsync(sshd.HostKeyPublic)).Split(' ');
        await File.WriteAllTextAsync(knownHosts, $"[127.0.0.1]:{sshd.Port} {pub[0]} {pub[1]}\n");
        var hash = await ExternalCommand.RunAsync("ssh-keygen", ["-H", "-f", knownHosts], TimeSpan.FromSeconds(20));
        Assert.True(hash.ExitCode == 0, hash.Describe());
        Assert.StartsWith("|1|", await File.ReadAllTextAsync(knownHosts), StringComparison.Ordinal);
        await using var daemon = new BastiondProcess(output, TunnelsYaml(
            Item("known", "local", sshd, key, "127.0.0.1:0", "127.0.0.1:22", hostKey: $"knownHosts: {knownHosts}")));
        await daemon.StartAndWaitReadyAsync();
        await daemon.WaitForComponentAsync("known", "Running");
    }

    [Fact]
    public async Task A_killed_sshd_is_noticed_at_once_and_the_tunnel_reconnects_when_sshd_is_back()
    {
        await using var sshd = await Sshd.StartAsync(Path.GetTempPath(), output);
        await using var echo = new EchoServer();
        var key = await sshd.CreateUserKeyAsync();
        // Probes 10s apart: noticing within 1.5s can only be the reset itself.
        await using var daemon = new BastiondProcess(output, TunnelsYaml(Item("up", "local", sshd, key, "127.0.0.1:0", $"127.0.0.1:{echo.Port}",
            probe: "interval: 10s\n      timeout: 5s\n      failures: 2")));
        await daemon.StartAndWaitReadyAsync();
        await daemon.WaitForComponentAsync("up", "Running");

        var killed = Stopwatch.StartNew();
        await sshd.KillAsync();
        var down = await daemon.WaitForStatusAsync(s => s.Components.Single().State != "Running", "tunnel down", TimeSpan.FromSeconds(10));
        output.WriteLine($"noticed the kill after {killed.ElapsedMilliseconds} ms: {down.Components.Single().Reason}");
        Assert.True(killed.Elapsed < TimeSpan.FromSeconds(1.5), $"took {killed.ElapsedMilliseconds} ms");
        await daemon.WaitForStatusAsync(s => s.Components.Single().Reason.Contains("connection refused", StringComparison.Ordinal), "refused while down");

        var back = Stopwatch.StartNew();
        await sshd.RestartAsync();
        var running = await daemon.WaitForComponentAsync("up", "Running");
        output.WriteLine($"usable again {back.ElapsedMilliseconds} ms after sshd restarted");
        await using var client = await EchoClient.ConnectAsync(int.Parse(running.Details["boundPort"]));
        await client.RoundTripAsync();
        var counted = await daemon.WaitForStatusAsync(s => s.Components.Single().Details["reconnects"] == "1", "one reconnect");
        Assert.Equal("2", counted.Components.Single().Details["connects"]);
    }

    [Fact]
    public async Task A_frozen_sshd_is_declared_dead_within_three_probe_intervals_and_the_tunnel_recovers_after_it_thaws()
    {
        await using var sshd = await Sshd.StartAsync(Path.GetTempPath(), output);
        await using var echo = new EchoServer();
        var key = await sshd.CreateUserKeyAsync();
        await using var daemon = new BastiondProcess(output, TunnelsYaml(Item("frozen", "local", sshd, key, "127.0.0.1:0", $"127.0.0.1:{echo.Port}")));
        await daemon.StartAndWaitReadyAsync();
        await daemon.WaitForComponentAsync("frozen", "Running");

        var frozen = Stopwatch.StartNew();
        sshd.FreezeAll(); // the TCP connection stays up; nothing answers: SSH.NET alone never notices
        try
        {
            // One unanswered probe is Degraded; the second is death.
            var down = await daemon.WaitForStatusAsync(s => s.Components.Single().State is not ("Running" or "Degraded"), "declared dead", TimeSpan.FromSeconds(15));
            output.WriteLine($"declared dead {frozen.ElapsedMilliseconds} ms after the freeze: {down.Components.Single().Reason}");
            // The status may already show the next attempt ("restarting after: …"): the reason it gives is what counts.
            Assert.Contains("server not answering: 2 probes in a row got no answer within 500ms", down.Components.Single().Reason, StringComparison.Ordinal);
            // 3 probe intervals of 1s, plus slack for a loaded machine and the status file's write.
            Assert.True(frozen.Elapsed < TimeSpan.FromSeconds(3) + TimeSpan.FromSeconds(1.5), $"took {frozen.ElapsedMilliseconds} ms");
        }
        finally
        {
            sshd.ThawAll();
        }
        var running = await daemon.WaitForComponentAsync("frozen", "Running", TimeSpan.FromSeconds(40));
        await using var client = await EchoClient.ConnectAsync(int.Parse(running.Details["boundPort"]));
        await client.RoundTripAsync();
    }

    [Fact]
    public async Task A_remote_port_already_taken_on_the_server_is_reported_as_remote_port_busy_and_recovers_when_freed()
    {
        await using var sshd = await Sshd.StartAsync(Path.GetTempPath(), output);
        await using var echo = new EchoServer();
        var key = await sshd.CreateUserKeyAsync();
        // The stale listener: something on the server holds the port (sshd runs on this host, so a listener here is one there).
        var squatter = new TcpListener(IPAddress.Loopback, 0);
        squatter.Start();
        var port = ((IPEndPoint)squatter.LocalEndpoint).Port;
        var held = new List<Socket>();
        using var stopSquatting = new CancellationTokenSource();
        var accepting = Task.Run(async () =>
        {
            try
            {
                while (true)
                {
                    held.Add(await squatter.AcceptSocketAsync(stopSquatting.Token));
                }
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
            }
        });
        await using var daemon = new BastiondProcess(output, TunnelsYaml(Item("home", "remote", sshd, key, $"127.0.0.1:{port}", $"127.0.0.1:{echo.Port}")));
        await daemon.StartAndWaitReadyAsync();
        var busy = await daemon.WaitForStatusAsync(s => s.Components.Single().Reason.StartsWith("remote port busy", StringComparison.Ordinal), "remote port busy");
        Assert.Contains($"127.0.0.1:{port}", busy.Components.Single().Reason, StringComparison.Ordinal);
        Assert.Contains("ClientAliveInterval", busy.Components.Single().Reason, StringComparison.Ordinal);

        await stopSquatting.CancelAsync();
        squatter.Stop();
        await accepting.WaitAsync(TimeSpan.FromSeconds(10));
        foreach (var s in held)
        {
            s.Dispose();
        }
        await daemon.WaitForComponentAsync("home", "Running");
        await using var client = await EchoClient.ConnectAsync(port);
        await client.RoundTripAsync();
    }

    [Fact]
    public async Task A_remote_forward_the_server_does_not_allow_is_reported_as_rejected_by_server_policy()
    {
        await using var sshd = await Sshd.StartAsync(Path.GetTempPath(), output, "AllowTcpForwarding local");
        var key = await sshd.CreateUserKeyAsync();
        var port = FreePort.Pick();
        await using var daemon = new BastiondProcess(output, TunnelsYaml(Item("denied", "remote", sshd, key, $"127.0.0.1:{port}", "127.0.0.1:22")));
        await daemon.StartAndWaitReadyAsync();
        var denied = await daemon.WaitForStatusAsync(s => s.Components.Single().Reason.StartsWith("forward rejected by server policy", StringComparison.Ordinal), "rejected by policy");
        Assert.Contains("AllowTcpForwarding", denied.Components.Single().Reason, StringComparison.Ordinal);
    }
}
