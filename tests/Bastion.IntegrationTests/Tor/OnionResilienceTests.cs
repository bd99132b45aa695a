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
        await using var daemon = new BastiondProcess(output);
        await using var sshd = await Sshd.StartAsync(daemon.Root.Path, output);
        var key = await CreateClientKeyAsync(daemon.Root.Path);
        sshd.AuthorizeKey(await File.ReadAllTextAsync(key + ".pub"));
        daemon.WriteConfig(OnionYaml(network, FreePort.Pick(), sshd.Port));
        await daemon.StartAndWaitReadyAsync(TorNetwork.DaemonEnvironment);
        var address = (await WaitReachableAsync(daemon, network)).Details["address"];

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
        await using var daemon = new BastiondProcess(output);
        await using var sshd = await Sshd.StartAsync(daemon.Root.Path, output);
        var key = await CreateClientKeyAsync(daemon.Root.Path);
        sshd.AuthorizeKey(await File.ReadAllTextAsync(key + ".pub"));
        daemon.WriteConfig(OnionYaml(network, FreePort.Pick(), sshd.Port));
        await daemon.StartAndWaitReadyAsync(TorNetwork.DaemonEnvironment);
        var onion = await WaitReachableAsync(daemon, network);
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
