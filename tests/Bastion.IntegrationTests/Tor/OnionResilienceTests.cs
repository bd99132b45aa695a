using System.Globalization;
using Bastion.IntegrationTests.Infrastructure;
using Xunit.Abstractions;
using static Bastion.IntegrationTests.Tor.OnionTestSupport;

namespace Bastion.IntegrationTests.Tor;

/// <summary>
/// Issue #14 items 2–5 on the private network, judged as an outside client would: removing the last authorized client,
/// the directories going away and coming back, and the self-test's own circuits.
/// </summary>
[Collection(TorNetworkDefinition.Name)]
public sealed class OnionResilienceTests(TorNetwork network, ITestOutputHelper output)
{
    [Fact]
    public async Task Removing_the_last_client_is_refused_without_force_and_it_still_gets_in_and_with_force_the_onion_is_open_to_a_client_without_a_key()
    {
        await using var published = await PublishedSshd.StartAsync(network, output);
        var (daemon, key, address) = (published.Daemon, published.ClientKey, published.Address);

        var add = await Cli.Bastionctl.RunAsync("--runtime-dir", daemon.RuntimeDir, "onion", "client", "add", "alice");
        Assert.True(add.ExitCode == 0, add.ToString() + daemon.Log);
        // The whole client-side recipe (#14.12): the file name, the torrc line, and reloading the client's tor.
        Assert.Contains("alice.auth_private", add.Stderr, StringComparison.Ordinal);
        Assert.Contains("ClientOnionAuthDir /var/lib/tor/onion_auth", add.Stderr, StringComparison.Ordinal);
        Assert.Contains("reload that tor", add.Stderr, StringComparison.Ordinal);
        var line = add.Stdout.Trim();
        await WaitReachableAsync(daemon, network, c => c.Details.GetValueOrDefault("clients") == "alice");

        var authDir = Path.Combine(daemon.Root.Path, "client-auth");
        Directory.CreateDirectory(authDir);
        File.SetUnixFileMode(authDir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        await File.WriteAllTextAsync(Path.Combine(authDir, "alice.auth_private"), line + "\n");
        var aliceSocks = await network.StartClientAsync("alice-" + Guid.NewGuid().ToString("N")[..6], authDir);
        var before = await SshUntilItWorksAsync(aliceSocks, address, key, "echo alice-before");
        Assert.True(before.ExitCode == 0, before.Describe() + "\n" + network.LogTail());

        // Without --force: refused, with what it would mean, and nothing changes.
        var refused = await Cli.Bastionctl.RunAsync("--runtime-dir", daemon.RuntimeDir, "onion", "client", "remove", "alice");
        Assert.True(refused.ExitCode != 0, refused.ToString());
        Assert.Contains("'alice' is the last authorized client of 'ssh'", refused.Stderr, StringComparison.Ordinal);
        Assert.Contains($"makes {address} reachable by anyone who knows the address", refused.Stderr, StringComparison.Ordinal);
        Assert.Contains("--force", refused.Stderr, StringComparison.Ordinal);
        Assert.Contains("nothing was changed", refused.Stderr, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(daemon.StateDir, "onion", "ssh", "authorized_clients", "alice.auth")));
        Assert.Equal("alice", daemon.ReadStatus().Components.Single(c => c.Kind == "onion").Details["clients"]);
        var still = await SshUntilItWorksAsync(aliceSocks, address, key, "echo alice-still");
        Assert.True(still.ExitCode == 0 && still.StdOut.Contains("alice-still", StringComparison.Ordinal), still.Describe() + "\n" + network.LogTail());
        // Authorization is still on: a tor without the key is refused for the missing key.
        var strangerSocks = await network.StartClientAsync("stranger-" + Guid.NewGuid().ToString("N")[..6], null);
        Assert.Contains("client authorization is missing", await SocksAnswerAsync(strangerSocks, address, "client authorization"), StringComparison.Ordinal);

        // With --force: done, said so, and the onion is public (README: "turns authorization off").
        var forced = await Cli.Bastionctl.RunAsync("--runtime-dir", daemon.RuntimeDir, "onion", "client", "remove", "alice", "--force");
        Assert.True(forced.ExitCode == 0, forced.ToString() + daemon.Log);
        Assert.Contains("'ssh' has no authorized clients now: anyone who knows its address can connect", forced.Stderr, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(daemon.StateDir, "onion", "ssh", "authorized_clients", "alice.auth")));
        await WaitReachableAsync(daemon, network, c => c.Details.GetValueOrDefault("clients") == "anyone with the address");
        // A fresh tor without any key (nothing cached) gets in.
        var anyoneSocks = await network.StartClientAsync("anyone-" + Guid.NewGuid().ToString("N")[..6], null);
        var open = await SshUntilItWorksAsync(anyoneSocks, address, key, "echo anyone-in");
        Assert.True(open.ExitCode == 0 && open.StdOut.Contains("anyone-in", StringComparison.Ordinal), open.Describe() + "\n" + network.LogTail());
        Assert.DoesNotContain("Bug:", daemon.Log.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task With_the_directories_down_tor_says_no_relays_reachable_and_after_their_return_the_lost_descriptor_is_published_again_within_a_minute()
    {
        await using var published = await PublishedSshd.StartAsync(network, output);
        var (daemon, key, onion) = (published.Daemon, published.ClientKey, published.Onion);
        var address = onion.Details["address"];
        var uploadsBefore = int.Parse(onion.Details["uploads"], CultureInfo.InvariantCulture);
        Assert.True(uploadsBefore > 0, string.Join(", ", onion.Details));

        var down = DateTimeOffset.UtcNow;
        await network.StopAuthoritiesAsync();
        DateTimeOffset back;
        try
        {
            // Bounded: the probe runs every 5 s; tor needs a failed circuit or two before it gives its network up.
            var cutOff = await daemon.WaitForStatusAsync(
                s => s.Components.Any(c => c.Kind == "tor" && c.State != "Running"
                        && (c.Reason.StartsWith("no relays reachable", StringComparison.Ordinal) || c.Reason.StartsWith("network unreachable", StringComparison.Ordinal)))
                    && s.Components.Any(c => c.Kind == "onion" && c.Details.GetValueOrDefault("state") != "reachable"),
                "tor: no relays reachable, onion not reachable", TimeSpan.FromSeconds(120));
            var tor = cutOff.Components.Single(c => c.Kind == "tor");
            output.WriteLine($"directories down: tor said '{tor.Reason}' after {(DateTimeOffset.UtcNow - down).TotalSeconds:0.0} s");
            Assert.DoesNotContain("bootstrapped 100%", tor.Reason, StringComparison.Ordinal);
        }
        finally
        {
            // The network is shared by the collection: it comes back whatever happened above.
            await network.StartAuthoritiesAsync();
            back = DateTimeOffset.UtcNow;
        }

        // Back: a new upload (the directories forgot the old one) within a minute, and an outside client gets in.
        var republished = await daemon.WaitForStatusAsync(
            s => s.Components.Any(c => c.Kind == "onion"
                && int.Parse(c.Details.GetValueOrDefault("uploads") ?? "0", CultureInfo.InvariantCulture) > uploadsBefore
                && DateTimeOffset.Parse(c.Details["lastUpload"], CultureInfo.InvariantCulture) >= back),
            "the descriptor uploaded again after the directories' return", TimeSpan.FromSeconds(90));
        var lastUpload = DateTimeOffset.Parse(republished.Components.Single(c => c.Kind == "onion").Details["lastUpload"], CultureInfo.InvariantCulture);
        output.WriteLine($"descriptor re-published {(lastUpload - back).TotalSeconds:0.0} s after the directories' return"
            + (daemon.Log.ToString().Contains("the directories have no descriptor", StringComparison.Ordinal) ? " (bastiond's self-test found it missing)" : " (by tor)"));
        Assert.True(lastUpload - back <= TimeSpan.FromSeconds(60), $"re-published {(lastUpload - back).TotalSeconds:0.0} s after the directories' return\n{daemon.Log}");

        await WaitReachableAsync(daemon, network, c => DateTimeOffset.Parse(c.Details["lastSelfTestOk"], CultureInfo.InvariantCulture) >= back);
        Assert.Equal("Running", daemon.ReadStatus().Components.Single(c => c.Kind == "tor").State);
        var socks = await network.StartClientAsync("after-" + Guid.NewGuid().ToString("N")[..6], null);
        var ssh = await SshUntilItWorksAsync(socks, address, key, "echo back-again");
        Assert.True(ssh.ExitCode == 0 && ssh.StdOut.Contains("back-again", StringComparison.Ordinal), ssh.Describe() + "\n" + network.LogTail());
        Assert.DoesNotContain("Bug:", daemon.Log.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Each_self_test_runs_on_a_newly_built_circuit_of_its_own_and_a_failure_leaves_a_timestamped_error_that_the_next_success_clears()
    {
        await using var published = await PublishedSshd.StartAsync(network, output);
        var (daemon, sshd, onion) = (published.Daemon, published.Sshd, published.Onion);
        var address = onion.Details["address"];
        Assert.Equal("", onion.Details.GetValueOrDefault("lastSelfTestError", ""));

        // Watch bastiond's own tor from the side: every circuit launched and every stream, from now on.
        var tor = daemon.ReadStatus().Components.Single(c => c.Kind == "tor");
        var controlPort = int.Parse(tor.Details["controlPort"].Split(':')[1], CultureInfo.InvariantCulture);
        await using var control = await Bastion.Daemon.Tor.TorControlConnection.ConnectAsync("127.0.0.1", controlPort, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30));
        await Bastion.Daemon.Tor.TorAuthentication.AuthenticateAsync(control, Path.Combine(daemon.StateDir, "tor", "control_auth_cookie"), CancellationToken.None)
            .WaitAsync(TimeSpan.FromSeconds(30));
        var events = new System.Collections.Concurrent.ConcurrentQueue<string>();
        control.EventReceived += reply =>
        {
            foreach (var l in reply.Lines)
            {
                events.Enqueue(l.Text);
            }
        };
        await control.SendOkAsync(Bastion.Tor.TorCommand.Line("SETEVENTS", "CIRC", "CIRC_MINOR", "STREAM"), CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30));

        // The target goes away: the next self-test (within its one-minute interval) fails and says when and why.
        var killed = DateTimeOffset.UtcNow;
        await sshd.KillAsync();
        var failed = (await daemon.WaitForStatusAsync(
            s => s.Components.Any(c => c.Kind == "onion" && c.Details.GetValueOrDefault("lastSelfTestError", "") != ""),
            "a failed self-test", TimeSpan.FromSeconds(150))).Components.Single(c => c.Kind == "onion");
        var error = failed.Details["lastSelfTestError"];
        output.WriteLine("lastSelfTestError: " + error);
        var at = DateTimeOffset.Parse(error[..error.IndexOf(": ", StringComparison.Ordinal)], CultureInfo.InvariantCulture);
        Assert.True(at >= killed && at <= DateTimeOffset.UtcNow, error);
        Assert.Contains($"not its target 127.0.0.1:{sshd.Port.ToString(CultureInfo.InvariantCulture)} (is it running?)", error, StringComparison.Ordinal);
        Assert.NotEqual("reachable", failed.Details["state"]);
        Assert.True(DateTimeOffset.Parse(failed.Details["lastSelfTestOk"], CultureInfo.InvariantCulture) < at, string.Join(", ", failed.Details));
        // bastionctl onion shows both: when it last passed (and how long ago) and the error with its time.
        var shown = await Cli.Bastionctl.RunAsync("--runtime-dir", daemon.RuntimeDir, "onion");
        Assert.Matches(@"self-test passed \d+ s ago", shown.Stdout);
        Assert.Contains("last self-test error  " + error, shown.Stdout, StringComparison.Ordinal);

        // The target is back: the next self-test passes and the error is cleared.
        await sshd.RestartAsync();
        var passed = await WaitReachableAsync(daemon, network, c => c.Details.GetValueOrDefault("lastSelfTestError", "x") == ""
            && DateTimeOffset.Parse(c.Details["lastSelfTestOk"], CultureInfo.InvariantCulture) > at);
        Assert.Contains("SSH-2.0-", passed.Reason, StringComparison.Ordinal);
        var json = await Cli.Bastionctl.RunAsync("--runtime-dir", daemon.RuntimeDir, "status", "--json");
        using (var doc = System.Text.Json.JsonDocument.Parse(json.Stdout))
        {
            var onionJson = doc.RootElement.GetProperty("components").EnumerateArray().Single(c => c.GetProperty("kind").GetString() == "onion");
            var details = onionJson.GetProperty("details");
            Assert.Equal(passed.Details["lastSelfTestOk"], details.GetProperty("lastSelfTestOk").GetString());
            Assert.Equal("", details.GetProperty("lastSelfTestError").GetString());
        }
        var shownAfter = await Cli.Bastionctl.RunAsync("--runtime-dir", daemon.RuntimeDir, "onion");
        Assert.DoesNotContain("last self-test error", shownAfter.Stdout, StringComparison.Ordinal);

        // What tor saw: each self-test's stream came with a SOCKS username of its own and ran on a circuit of its own that
        // tor built (or took unused from its pre-built ones) after the previous self-test's stream, never on one in use.
        var seen = events.ToArray();
        var launched = new List<(int Index, string Circuit)>();
        var streams = new Dictionary<string, (int FirstIndex, string? User, HashSet<string> Circuits)>();
        for (var i = 0; i < seen.Length; i++)
        {
            var e = Bastion.Tor.TorArguments.Parse(seen[i]);
            // Fresh: built for it (LAUNCHED) or an unused pre-built circuit taken over for it (CANNIBALIZED).
            if ((e.Word(0) == "CIRC" && e.Word(2) == "LAUNCHED") || (e.Word(0) == "CIRC_MINOR" && e.Word(2) == "CANNIBALIZED"))
            {
                launched.Add((i, e.Word(1)!));
            }
            else if (e.Word(0) == "STREAM" && e.Word(4) is { } target && target.StartsWith(address, StringComparison.Ordinal))
            {
                var id = e.Word(1)!;
                if (!streams.TryGetValue(id, out var stream))
                {
                    stream = (i, null, []);
                }
                if (e.Word(3) is { } circuit && circuit != "0")
                {
                    stream.Circuits.Add(circuit);
                }
                streams[id] = (stream.FirstIndex, stream.User ?? e["SOCKS_USERNAME"], stream.Circuits);
            }
        }
        var attached = streams.Values.Where(s => s.Circuits.Count > 0).OrderBy(s => s.FirstIndex).ToList();
        Assert.True(attached.Count >= 2, "expected the failed and the passing self-test's streams:\n" + string.Join('\n', seen));
        Assert.All(attached, s => Assert.StartsWith("bastion-selftest-", s.User ?? "", StringComparison.Ordinal));
        Assert.Equal(attached.Count, attached.Select(s => s.User).Distinct().Count());
        var circuits = attached.SelectMany(s => s.Circuits).ToList();
        Assert.Equal(circuits.Count, circuits.Distinct().Count());
        for (var n = 0; n < attached.Count; n++)
        {
            var after = n == 0 ? -1 : attached[n - 1].FirstIndex;
            foreach (var circuit in attached[n].Circuits)
            {
                Assert.True(launched.Any(l => l.Circuit == circuit && l.Index > after),
                    $"self-test stream {n} ran on circuit {circuit}, which was not built or cannibalized for it after the previous self-test:\n" + string.Join('\n', seen));
            }
        }
        output.WriteLine($"{attached.Count} self-tests, each on a new circuit: {string.Join(", ", attached.Select(s => $"{s.User} on {string.Join('+', s.Circuits)}"))}");
    }

    /// <summary>Tor's answer to a SOCKS CONNECT ("connected", or why not), retried until it contains <paramref name="expected"/>.</summary>
    internal static async Task<string> SocksAnswerAsync(int socksPort, string address, string expected)
    {
        var deadline = DateTime.UtcNow + OnionPatience;
        while (true)
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            string answer;
            try
            {
                using var socket = await Bastion.Daemon.Tor.Socks5.ConnectAsync(new Bastion.Config.Endpoint("127.0.0.1", socksPort), address, 22, timeout.Token);
                answer = "connected";
            }
            catch (Exception e) when (e is IOException or OperationCanceledException or System.Net.Sockets.SocketException)
            {
                answer = e.Message;
            }
            if (answer.Contains(expected, StringComparison.Ordinal) || DateTime.UtcNow > deadline)
            {
                return answer;
            }
            await Task.Delay(1000);
        }
    }
}
