using System.Globalization;
using Bastion.IntegrationTests.Infrastructure;
using Xunit.Abstractions;
using static Bastion.IntegrationTests.Tor.OnionTestSupport;

namespace Bastion.IntegrationTests.Tor;

/// <summary>bastiond's managed tor in the private network, publishing a real sshd; OpenSSH reaches it through the client tor.</summary>
[Collection(TorNetworkDefinition.Name)]
public sealed class OnionServiceTests(TorNetwork network, ITestOutputHelper output)
{
    [Fact]
    public async Task Bastiond_publishes_sshd_as_an_onion_ssh_runs_a_command_through_tor_and_after_tor_is_killed_the_same_address_comes_back()
    {
        await using var published = await PublishedSshd.StartAsync(network, output);
        var (daemon, key, onion) = (published.Daemon, published.ClientKey, published.Onion);

        var address = onion.Details["address"];
        Assert.EndsWith(".onion", address, StringComparison.Ordinal);
        Assert.Contains("SSH-2.0-", onion.Reason, StringComparison.Ordinal);

        var ssh = await SshUntilItWorksAsync(network.SocksPort, address, key, "echo hello-over-onion");
        Assert.True(ssh.ExitCode == 0, ssh.Describe() + "\n" + network.LogTail());
        Assert.Contains("hello-over-onion", ssh.StdOut, StringComparison.Ordinal);

        // The key: 0600, and neither it nor tor's answer with it ever reaches the log.
        var keyFile = Path.Combine(daemon.StateDir, "onion", "ssh", "onion.key");
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(keyFile));
        var blob = (await File.ReadAllLinesAsync(keyFile)).Single(l => l.StartsWith("key: ", StringComparison.Ordinal))["key: ED25519-V3:".Length..];
        Assert.DoesNotContain(blob, daemon.Log.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("PrivateKey", daemon.Log.ToString(), StringComparison.Ordinal);
        Assert.Contains(address, daemon.Log.ToString(), StringComparison.Ordinal);

        // Bootstrap progress was followed into status (and so into the log of state changes).
        var torStatus = daemon.ReadStatus().Components.Single(c => c.Kind == "tor");
        Assert.Equal("100", torStatus.Details["bootstrap"]);
        Assert.StartsWith("bootstrapped 100%", torStatus.Reason, StringComparison.Ordinal);
        Assert.Matches(@"tor/tor: \w+ -> Degraded: bootstrapping \d+%: ", daemon.Log.ToString());

        // Kill tor: the supervisor restarts it, the service is added again with the same key and passes its self-test.
        var tor = daemon.ReadStatus().Components.Single(c => c.Kind == "tor");
        var torPid = int.Parse(tor.Details["pid"], CultureInfo.InvariantCulture);
        var selfTestBefore = onion.Details["lastSelfTest"];
        Posix.Signal(torPid, 9);
        await daemon.WaitForStatusAsync(s => s.Components.Any(c => c.Kind == "tor" && c.Details.GetValueOrDefault("pid") != tor.Details["pid"] && c.Starts > tor.Starts),
            "tor restarted with a new pid", OnionPatience);
        var again = await WaitReachableAsync(daemon, network, c => c.Details.GetValueOrDefault("lastSelfTest") != selfTestBefore);
        Assert.Equal(address, again.Details["address"]);
        var sshAgain = await SshUntilItWorksAsync(network.SocksPort, address, key, "echo hello-again");
        Assert.True(sshAgain.ExitCode == 0, sshAgain.Describe() + "\n" + network.LogTail());
        Assert.Contains("hello-again", sshAgain.StdOut, StringComparison.Ordinal);
        // The kill is named as a signal, not as tor's last warning; re-adding never collided (tor's "Bug:" backtrace).
        Assert.Contains("tor was killed by signal 9 (SIGKILL)", daemon.Log.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("Bug:", daemon.Log.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task With_client_authorization_ssh_fails_without_the_key_and_works_with_the_line_bastionctl_printed()
    {
        await using var published = await PublishedSshd.StartAsync(network, output);
        var (daemon, key, address) = (published.Daemon, published.ClientKey, published.Address);

        var add = await Cli.Bastionctl.RunAsync("--runtime-dir", daemon.RuntimeDir, "onion", "client", "add", "alice-laptop");
        Assert.True(add.ExitCode == 0, add.ToString() + daemon.Log);
        var line = add.Stdout.Trim();
        Assert.Matches("^[a-z2-7]{56}:descriptor:x25519:[A-Z2-7]{52}$", line);
        Assert.StartsWith(address[..^".onion".Length] + ":", line, StringComparison.Ordinal);
        var privateKey = line[(line.LastIndexOf(':') + 1)..];
        Assert.DoesNotContain(privateKey, daemon.Log.ToString(), StringComparison.Ordinal);
        var authFile = Path.Combine(daemon.StateDir, "onion", "ssh", "authorized_clients", "alice-laptop.auth");
        Assert.Matches("^descriptor:x25519:[A-Z2-7]{52}$", (await File.ReadAllTextAsync(authFile)).Trim());

        // Re-added with the same key and the client list; the daemon's own self-test (its ephemeral client key) passes.
        var restricted = await WaitReachableAsync(daemon, network, c => c.Details.GetValueOrDefault("clients") == "alice-laptop");
        Assert.Equal(address, restricted.Details["address"]);

        var listed = await Cli.Bastionctl.RunAsync("--runtime-dir", daemon.RuntimeDir, "onion", "client", "list");
        Assert.Contains("alice-laptop", listed.Stdout, StringComparison.Ordinal);

        // A tor without the key: the descriptor cannot be decrypted, ssh fails. (A fresh client tor: nothing cached.)
        var withoutKeySocks = await network.StartClientAsync("no-key-" + Guid.NewGuid().ToString("N")[..6], null);
        var denied = await SshAsync(withoutKeySocks, address, key, "echo should-not-run", TimeSpan.FromSeconds(90));
        Assert.True(denied.ExitCode != 0 && !denied.StdOut.Contains("should-not-run", StringComparison.Ordinal), denied.Describe());
        // And the reason is the missing key (tor's extended SOCKS error 0xF4), not some other failure.
        Assert.Contains("client authorization is missing", await SocksRefusalAsync(withoutKeySocks, address), StringComparison.Ordinal);

        // A tor with the printed line in its ClientOnionAuthDir gets in.
        var authDir = Path.Combine(daemon.Root.Path, "client-auth");
        Directory.CreateDirectory(authDir);
        File.SetUnixFileMode(authDir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        await File.WriteAllTextAsync(Path.Combine(authDir, "alice.auth_private"), line + "\n");
        var withKeySocks = await network.StartClientAsync("alice-" + Guid.NewGuid().ToString("N")[..6], authDir);
        var allowed = await SshUntilItWorksAsync(withKeySocks, address, key, "echo hello-alice");
        Assert.True(allowed.ExitCode == 0, allowed.Describe() + "\n" + network.LogTail());
        Assert.Contains("hello-alice", allowed.StdOut, StringComparison.Ordinal);

        Assert.Equal("connected", await SocksRefusalAsync(withKeySocks, address));

        var show = await Cli.Bastionctl.RunAsync("--runtime-dir", daemon.RuntimeDir, "onion", "--user", "admin");
        Assert.True(show.ExitCode == 0, show.ToString());
        Assert.Contains($"ssh -o ProxyCommand='nc -X 5 -x 127.0.0.1:9050 %h %p' admin@{address}", show.Stdout, StringComparison.Ordinal);
        Assert.Contains("reachable", show.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Turning_client_authorization_on_cuts_an_open_session_of_a_client_without_a_key_and_it_cannot_get_back_in()
    {
        await using var published = await PublishedSshd.StartAsync(network, output);
        var (daemon, key, address) = (published.Daemon, published.ClientKey, published.Address);

        // A client with no key logs in while the onion is public and keeps its session open.
        var socks = await network.StartClientAsync("early-" + Guid.NewGuid().ToString("N")[..6], null);
        var first = await SshUntilItWorksAsync(socks, address, key, "echo in");
        Assert.True(first.ExitCode == 0, first.Describe() + "\n" + network.LogTail());
        using var session = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("ssh",
        [
            "-i", key, "-F", "/dev/null", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null", "-o", $"ProxyCommand=nc -X 5 -x 127.0.0.1:{socks.ToString(CultureInfo.InvariantCulture)} %h %p",
            // An idle client only notices a cut when it next talks: keepalives every 5 s make it notice.
            "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3",
            "root@" + address, "echo session-open; sleep 600",
        ]) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false })!;
        try
        {
            using var openTimeout = new CancellationTokenSource(OnionPatience);
            Assert.Equal("session-open", await session.StandardOutput.ReadLineAsync(openTimeout.Token));

            var add = await Cli.Bastionctl.RunAsync("--runtime-dir", daemon.RuntimeDir, "onion", "client", "add", "alice");
            Assert.True(add.ExitCode == 0, add.ToString() + daemon.Log);
            Assert.Contains("open sessions over the onion are cut", add.Stderr, StringComparison.Ordinal);
            Assert.Contains("ClientOnionAuthDir", add.Stderr, StringComparison.Ordinal);
            await WaitReachableAsync(daemon, network, c => c.Details.GetValueOrDefault("clients") == "alice");

            // The open session is cut (its rendezvous circuit closed), not left running.
            await session.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(90));
            var onion = daemon.ReadStatus().Components.Single(c => c.Kind == "onion");
            Assert.True(onion.Details.ContainsKey("sessionsCut"), string.Join(", ", onion.Details));
            Assert.Contains("open sessions over the onion were cut", daemon.Log.ToString(), StringComparison.Ordinal);

            // And that client cannot get back in: a new login is refused for the missing key.
            var again = await SshAsync(socks, address, key, "echo should-not-run", TimeSpan.FromSeconds(90));
            Assert.True(again.ExitCode != 0 && !again.StdOut.Contains("should-not-run", StringComparison.Ordinal), again.Describe());
            Assert.Contains("client authorization is missing", await SocksRefusalAsync(socks, address), StringComparison.Ordinal);
            Assert.DoesNotContain("Bug:", daemon.Log.ToString(), StringComparison.Ordinal);
        }
        finally
        {
            if (!session.HasExited)
            {
                session.Kill();
            }
        }
    }

    [Fact]
    public async Task A_frozen_tor_is_detected_within_three_probe_intervals_and_the_onion_no_longer_reads_reachable()
    {
        await using var published = await PublishedSshd.StartAsync(network, output);
        var (daemon, onion) = (published.Daemon, published.Onion);
        Assert.True(onion.Details.ContainsKey("lastSelfTestOk"), string.Join(", ", onion.Details));
        var torPid = int.Parse(daemon.ReadStatus().Components.Single(c => c.Kind == "tor").Details["pid"], CultureInfo.InvariantCulture);

        Posix.Signal(torPid, 19); // SIGSTOP
        try
        {
            var stopped = DateTime.UtcNow;
            // Three probe intervals (15 s) plus the deadline, with a margin for a loaded machine.
            var frozen = await daemon.WaitForStatusAsync(
                s => s.Components.Any(c => c.Kind == "tor" && c.Reason.StartsWith("tor not answering its control port", StringComparison.Ordinal))
                    && s.Components.Any(c => c.Kind == "onion" && c.Details.GetValueOrDefault("state") == "unknown"),
                "tor not answering, onion unknown", TimeSpan.FromSeconds(60));
            output.WriteLine($"frozen tor detected after {(DateTime.UtcNow - stopped).TotalSeconds:0.0} s");
            Assert.Equal("Degraded", frozen.Components.Single(c => c.Kind == "onion").State);
        }
        finally
        {
            Posix.Signal(torPid, 18); // SIGCONT
        }
        await WaitReachableAsync(daemon, network, c => c.State == "Running");
        Assert.Equal("Running", daemon.ReadStatus().Components.Single(c => c.Kind == "tor").State);
    }

    /// <summary>Tor's answer to a SOCKS CONNECT to the onion ("connected", or why not), retried while tor is still fetching.</summary>
    private static async Task<string> SocksRefusalAsync(int socksPort, string address)
    {
        var deadline = DateTime.UtcNow + OnionPatience;
        while (true)
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            string answer;
            try
            {
                using var socket = await Bastion.Daemon.Tor.Socks5.ConnectAsync(new Bastion.Config.Endpoint("127.0.0.1", socksPort), address, 22, timeout.Token);
                return "connected";
            }
            catch (Exception e) when (e is IOException or OperationCanceledException or System.Net.Sockets.SocketException)
            {
                answer = e.Message;
            }
            if (answer.Contains("client authorization", StringComparison.Ordinal) || DateTime.UtcNow > deadline)
            {
                return answer;
            }
            await Task.Delay(1000);
        }
    }
}
