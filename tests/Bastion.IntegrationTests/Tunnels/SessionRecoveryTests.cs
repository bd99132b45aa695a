using System.Diagnostics;
using System.Globalization;
using Bastion.IntegrationTests.Infrastructure;
using Xunit.Abstractions;
using static Bastion.IntegrationTests.Tunnels.TunnelYaml;

namespace Bastion.IntegrationTests.Tunnels;

/// <summary>
/// The shared session's life against a real sshd: the probe is answered by sshd itself, a hung server is left within
/// the probe budget and used again as soon as it answers, and every tunnel on a session comes back with it.
/// </summary>
public sealed class SessionRecoveryTests(ITestOutputHelper output)
{
    private const string FastProbe = "interval: 1s\n      timeout: 500ms\n      failures: 2";

    [Fact]
    public async Task A_server_whose_commands_take_seconds_is_not_declared_dead_because_the_probe_starts_no_process()
    {
        // Every command (and login shell) of this user takes 5 s: a probe that runs something would time out each time.
        await using var sshd = await Sshd.StartAsync(Path.GetTempPath(), output, "ForceCommand /bin/sleep 5");
        await using var echo = new EchoServer();
        var key = await sshd.CreateUserKeyAsync();
        await using var daemon = new BastiondProcess(output, TunnelsYaml(
            Item("slowshell", "local", sshd, key, "127.0.0.1:0", $"127.0.0.1:{echo.Port}", probe: "interval: 1s\n      timeout: 900ms\n      failures: 2")));
        await daemon.StartAndWaitReadyAsync();
        var running = await daemon.WaitForComponentAsync("slowshell", "Running");

        var watch = Stopwatch.StartNew();
        var probesSeen = 0;
        while (watch.Elapsed < TimeSpan.FromSeconds(30))
        {
            var tunnel = daemon.ReadStatus().Components.Single();
            Assert.True(tunnel.State == "Running", $"after {watch.Elapsed.TotalSeconds:F1} s: {tunnel.State}: {tunnel.Reason}");
            Assert.Equal("1", tunnel.Details["connects"]);
            if (tunnel.Details.ContainsKey("lastProbeMs"))
            {
                probesSeen++;
            }
            await Task.Delay(500);
        }
        Assert.True(probesSeen > 0, "no probe was ever answered");
        await using (var client = await EchoClient.ConnectAsync(int.Parse(running.Details["boundPort"], CultureInfo.InvariantCulture)))
        {
            await client.RoundTripAsync();
        }
        Assert.DoesNotContain(daemon.Log.Lines, l => l.Contains("probe", StringComparison.Ordinal) && l.Contains("failed", StringComparison.Ordinal));
        Assert.Single(sshd.LogLines, l => l.Contains("Accepted publickey", StringComparison.Ordinal));
        // sshd started no session (no shell, no command) for 30 probes.
        Assert.DoesNotContain(sshd.LogLines, l => l.Contains("Starting session", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_frozen_server_leaves_Running_within_the_probe_budget_and_is_used_again_within_a_second_of_thawing()
    {
        await using var sshd = await Sshd.StartAsync(Path.GetTempPath(), output);
        await using var echo = new EchoServer();
        var key = await sshd.CreateUserKeyAsync();
        await using var daemon = new BastiondProcess(output, TunnelsYaml(Item("frozen", "local", sshd, key, "127.0.0.1:0", $"127.0.0.1:{echo.Port}", probe: FastProbe)));
        await daemon.StartAndWaitReadyAsync();
        await daemon.WaitForComponentAsync("frozen", "Running");
        // Budget: interval × failures + timeout + 1 s = 3.5 s; the test allows 2 s more for a loaded machine.
        var budget = TimeSpan.FromSeconds(1 * 2 + 0.5 + 1);
        var slack = TimeSpan.FromSeconds(2);

        await Task.Delay(TimeSpan.FromSeconds(1.2)); // somewhere between two probes
        var frozen = Stopwatch.StartNew();
        sshd.FreezeAll();
        TimeSpan left;
        try
        {
            var down = await daemon.WaitForStatusAsync(s => s.Components.Single().State is not ("Running" or "Degraded"), "declared dead", TimeSpan.FromSeconds(20));
            left = frozen.Elapsed;
            var tunnel = down.Components.Single();
            output.WriteLine($"left Running {left.TotalMilliseconds:F0} ms after the freeze: {tunnel.State}: {tunnel.Reason}");
            Assert.Contains("server not answering: 2 probes in a row got no answer within 500ms", tunnel.Reason, StringComparison.Ordinal);
            await Task.Delay(TimeSpan.FromSeconds(3)); // frozen for a while longer: reconnect attempts wait in sshd's backlog
        }
        finally
        {
            sshd.ThawAll();
        }
        var thawed = Stopwatch.StartNew();
        var running = await daemon.WaitForComponentAsync("frozen", "Running", TimeSpan.FromSeconds(20));
        await using (var client = await EchoClient.ConnectAsync(int.Parse(running.Details["boundPort"], CultureInfo.InvariantCulture)))
        {
            await client.RoundTripAsync();
        }
        var back = thawed.Elapsed;
        output.WriteLine($"usable again {back.TotalMilliseconds:F0} ms after the thaw (reconnects {running.Details["reconnects"]})");
        Assert.True(left < budget + slack, $"left Running after {left.TotalMilliseconds:F0} ms; budget {budget.TotalMilliseconds} ms");
        Assert.True(back < TimeSpan.FromSeconds(1) + slack, $"usable again only {back.TotalMilliseconds:F0} ms after the thaw");
        Assert.Equal("1", running.Details["reconnects"]);
    }

    [Fact]
    public async Task One_unanswered_probe_below_the_limit_shows_Degraded_and_an_answer_brings_Running_back_without_a_reconnect()
    {
        await using var sshd = await Sshd.StartAsync(Path.GetTempPath(), output);
        await using var echo = new EchoServer();
        var key = await sshd.CreateUserKeyAsync();
        await using var daemon = new BastiondProcess(output, TunnelsYaml(Item("wobbly", "local", sshd, key, "127.0.0.1:0", $"127.0.0.1:{echo.Port}",
            probe: "interval: 1s\n      timeout: 500ms\n      failures: 4")));
        await daemon.StartAndWaitReadyAsync();
        await daemon.WaitForComponentAsync("wobbly", "Running");

        sshd.FreezeAll();
        try
        {
            var degraded = await daemon.WaitForComponentAsync("wobbly", "Degraded", TimeSpan.FromSeconds(10));
            output.WriteLine(degraded.Reason);
            Assert.StartsWith("the server did not answer 1 liveness probe(s) in a row (declared dead after 4)", degraded.Reason, StringComparison.Ordinal);
        }
        finally
        {
            sshd.ThawAll();
        }
        var running = await daemon.WaitForComponentAsync("wobbly", "Running", TimeSpan.FromSeconds(15));
        Assert.Equal("0", running.Details["reconnects"]);
    }

    [Fact]
    public async Task After_sshd_restarts_every_tunnel_on_the_shared_session_comes_back_at_the_same_time()
    {
        await using var sshd = await Sshd.StartAsync(Path.GetTempPath(), output);
        await using var echo = new EchoServer();
        var key = await sshd.CreateUserKeyAsync();
        await using var daemon = new BastiondProcess(output, TunnelsYaml(
            Item("t-local", "local", sshd, key, "127.0.0.1:0", $"127.0.0.1:{echo.Port}"),
            Item("t-remote", "remote", sshd, key, $"127.0.0.1:{FreePort.Pick()}", $"127.0.0.1:{echo.Port}"),
            Item("t-socks", "dynamic", sshd, key, "127.0.0.1:0", null)));
        await daemon.StartAndWaitReadyAsync();
        await daemon.WaitForStatusAsync(s => s.Components.Count == 3 && s.Components.All(c => c.State == "Running"), "all three running");

        for (var round = 1; round <= 2; round++)
        {
            await sshd.KillAsync();
            await daemon.WaitForStatusAsync(s => s.Components.All(c => c.State != "Running"), "all three down", TimeSpan.FromSeconds(10));
            await Task.Delay(TimeSpan.FromSeconds(2 * round)); // long enough for a few refused reconnects
            await sshd.RestartAsync();
            var restarted = Stopwatch.StartNew();
            var backAt = new Dictionary<string, TimeSpan>();
            var deadline = TimeSpan.FromSeconds(30);
            while (backAt.Count < 3 && restarted.Elapsed < deadline)
            {
                foreach (var c in daemon.ReadStatus().Components.Where(c => c.State == "Running" && c.Details.GetValueOrDefault("connects") == (round + 1).ToString(CultureInfo.InvariantCulture)))
                {
                    backAt.TryAdd(c.Name, restarted.Elapsed);
                }
                await Task.Delay(20);
            }
            output.WriteLine($"round {round}: " + string.Join(", ", backAt.Select(b => $"{b.Key} {b.Value.TotalMilliseconds:F0} ms")));
            Assert.Equal(3, backAt.Count);
            var spread = backAt.Values.Max() - backAt.Values.Min();
            Assert.True(spread < TimeSpan.FromSeconds(1.5), $"round {round}: tunnels came back {spread.TotalMilliseconds:F0} ms apart");
            // One session for all three: the first one plus one per restart.
            Assert.Equal(round + 1, sshd.LogLines.Count(l => l.Contains("Accepted publickey", StringComparison.Ordinal)));
        }
    }

    [Fact]
    public async Task A_pin_of_only_the_servers_ecdsa_key_is_accepted_although_the_server_prefers_ed25519()
    {
        var keys = Directory.CreateTempSubdirectory("bastion-ecdsa-");
        try
        {
            var ecdsa = Path.Combine(keys.FullName, "host_ecdsa");
            var gen = await ExternalCommand.RunAsync("ssh-keygen", ["-q", "-t", "ecdsa", "-b", "256", "-N", "", "-f", ecdsa], TimeSpan.FromSeconds(20));
            Assert.True(gen.ExitCode == 0, gen.Describe());
            await using var sshd = await Sshd.StartAsync(Path.GetTempPath(), output, $"HostKey {ecdsa}");
            var pub = (await File.ReadAllTextAsync(ecdsa + ".pub")).Split(' ');
            var ecdsaFingerprint = Bastion.Ssh.SshFingerprint.Of(Convert.FromBase64String(pub[1]));
            Assert.NotEqual(sshd.HostKeyFingerprint, ecdsaFingerprint);
            var key = await sshd.CreateUserKeyAsync();
            await using var echo = new EchoServer();
            await using var daemon = new BastiondProcess(output, TunnelsYaml(Item("ecdsa", "local", sshd, key, "127.0.0.1:0", $"127.0.0.1:{echo.Port}",
                hostKey: $"fingerprints: [\"{ecdsaFingerprint}\"]")));
            await daemon.StartAndWaitReadyAsync();
            var running = await daemon.WaitForComponentAsync("ecdsa", "Running");
            Assert.Equal(ecdsaFingerprint, running.Details["hostKey"]);
            await using (var client = await EchoClient.ConnectAsync(int.Parse(running.Details["boundPort"], CultureInfo.InvariantCulture)))
            {
                await client.RoundTripAsync();
            }
            Assert.DoesNotContain(daemon.Log.Lines, l => l.Contains("SECURITY", StringComparison.Ordinal));
        }
        finally
        {
            keys.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task A_black_holed_path_leaves_Running_within_the_probe_budget_and_is_used_again_soon_after_packets_pass_again()
    {
        await using var sshd = await Sshd.StartAsync(Path.GetTempPath(), output);
        await using var proxy = new FreezableProxy(sshd.Port);
        await using var echo = new EchoServer();
        var key = await sshd.CreateUserKeyAsync();
        var yaml = TunnelsYaml(Item("holed", "local", sshd, key, "127.0.0.1:0", $"127.0.0.1:{echo.Port}", probe: FastProbe))
            .Replace($"port: {sshd.Port}", $"port: {proxy.Port}", StringComparison.Ordinal);
        await using var daemon = new BastiondProcess(output, yaml);
        await daemon.StartAndWaitReadyAsync();
        await daemon.WaitForComponentAsync("holed", "Running");
        var budget = TimeSpan.FromSeconds(1 * 2 + 0.5 + 1);
        var slack = TimeSpan.FromSeconds(2);

        var holed = Stopwatch.StartNew();
        proxy.Freeze();
        var down = await daemon.WaitForStatusAsync(s => s.Components.Single().State is not ("Running" or "Degraded"), "declared dead", TimeSpan.FromSeconds(20));
        var left = holed.Elapsed;
        output.WriteLine($"left Running {left.TotalMilliseconds:F0} ms into the black hole: {down.Components.Single().Reason}");
        Assert.Contains("server not answering", down.Components.Single().Reason, StringComparison.Ordinal);
        await Task.Delay(TimeSpan.FromSeconds(3));
        proxy.Thaw();
        var open = Stopwatch.StartNew();
        var running = await daemon.WaitForStatusAsync(s => s.Components.Single() is { State: "Running" } c && c.Details["connects"] == "2", "running on a new session", TimeSpan.FromSeconds(30));
        await using (var client = await EchoClient.ConnectAsync(int.Parse(running.Components.Single().Details["boundPort"], CultureInfo.InvariantCulture)))
        {
            await client.RoundTripAsync();
        }
        var back = open.Elapsed;
        output.WriteLine($"usable again {back.TotalMilliseconds:F0} ms after the path opened");
        Assert.True(left < budget + slack, $"left Running after {left.TotalMilliseconds:F0} ms; budget {budget.TotalMilliseconds} ms");
        Assert.True(back < TimeSpan.FromSeconds(1) + slack, $"usable again only {back.TotalMilliseconds:F0} ms after the path opened");
    }

    [Fact]
    public async Task A_remote_forward_whose_port_the_thawed_server_still_holds_is_never_called_a_policy_refusal()
    {
        await using var sshd = await Sshd.StartAsync(Path.GetTempPath(), output);
        await using var echo = new EchoServer();
        var key = await sshd.CreateUserKeyAsync();
        await using var daemon = new BastiondProcess(output, TunnelsYaml(
            Item("home", "remote", sshd, key, $"127.0.0.1:{FreePort.Pick()}", $"127.0.0.1:{echo.Port}", probe: FastProbe)));
        await daemon.StartAndWaitReadyAsync();
        await daemon.WaitForComponentAsync("home", "Running");
        sshd.FreezeAll();
        try
        {
            await daemon.WaitForStatusAsync(s => s.Components.Single().State is not ("Running" or "Degraded"), "declared dead", TimeSpan.FromSeconds(20));
        }
        finally
        {
            sshd.ThawAll();
        }
        var reasons = new HashSet<string>();
        await daemon.WaitForStatusAsync(s =>
        {
            var c = s.Components.Single();
            reasons.Add(c.Reason);
            return c.State == "Running" && c.Details["connects"] != "1";
        }, "running again", TimeSpan.FromSeconds(60));
        output.WriteLine(string.Join("\n", reasons));
        Assert.DoesNotContain(reasons, r => r.StartsWith("forward rejected by server policy", StringComparison.Ordinal));
        Assert.DoesNotContain(reasons, r => r.Contains("Exception", StringComparison.Ordinal));
    }
}
