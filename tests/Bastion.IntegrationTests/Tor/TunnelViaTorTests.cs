using System.Globalization;
using Bastion.IntegrationTests.Infrastructure;
using Bastion.IntegrationTests.Tunnels;
using Xunit.Abstractions;
using static Bastion.IntegrationTests.Tor.OnionTestSupport;

namespace Bastion.IntegrationTests.Tor;

/// <summary>
/// The two halves together: bastiond publishes a real sshd as an onion service, and a Bastion tunnel with <c>via: tor</c>
/// (no <c>socks:</c> of its own, so it goes through the managed tor's SocksPort) reaches that sshd by its onion address.
/// </summary>
[Collection(TorNetworkDefinition.Name)]
public sealed class TunnelViaTorTests(TorNetwork network, ITestOutputHelper output)
{
    [Fact]
    public async Task A_tunnel_via_tor_reaches_an_sshd_through_its_onion_address_using_the_managed_tors_socks_port_and_ssh_hostkey_can_read_its_key()
    {
        await using var daemon = new BastiondProcess(output);
        await using var sshd = await Sshd.StartAsync(daemon.Root.Path, output);
        await using var echo = new EchoServer();
        var key = await sshd.CreateUserKeyAsync();
        var socksPort = FreePort.Pick();
        var onionYaml = OnionYaml(network, socksPort, sshd.Port);
        daemon.WriteConfig(onionYaml);
        await daemon.StartAndWaitReadyAsync(TorNetwork.DaemonEnvironment);
        var address = (await WaitReachableAsync(daemon, network)).Details["address"];

        // The address exists only now (the key was created at first start): add the tunnel by a reload.
        daemon.WriteConfig(onionYaml + string.Create(CultureInfo.InvariantCulture, $"""
            tunnels:
              - name: over-onion
                kind: local
                via: tor
                server:
                  host: {address}
                  port: 22
                  user: {Sshd.User}
                  identity: {key}
                  hostKey:
                    fingerprints: ["{sshd.HostKeyFingerprint}"]
                bind: 127.0.0.1:0
                target: 127.0.0.1:{echo.Port}
                probe:
                  interval: 10s
                  timeout: 8s
                  failures: 3
                backoff:
                  initial: 1s
                  max: 5s

            """));
        var reload = await Cli.Bastionctl.RunAsync("--runtime-dir", daemon.RuntimeDir, "reload", "--timeout", "60s");
        Assert.True(reload.ExitCode == 0, reload.ToString());

        Bastion.Status.ComponentStatus tunnel;
        try
        {
            tunnel = await daemon.WaitForComponentAsync("over-onion", "Running", OnionPatience);
        }
        catch (TimeoutException e)
        {
            throw new TimeoutException(e.Message + "\n" + network.LogTail(), e);
        }
        // Through the managed tor's SocksPort, by name: the session says so.
        Assert.Equal($"{Sshd.User}@{address}:22 via socks 127.0.0.1:{socksPort}", tunnel.Details["session"]);
        Assert.Equal(sshd.HostKeyFingerprint, tunnel.Details["hostKey"]);

        await using var client = await EchoClient.ConnectAsync(int.Parse(tunnel.Details["boundPort"], CultureInfo.InvariantCulture));
        await client.RoundTripAsync(64 * 1024);
        Assert.Contains(sshd.LogLines, l => l.Contains("Accepted publickey for", StringComparison.Ordinal));

        // And an admin can learn the onion server's fingerprint to pin through the same SocksPort.
        var hostkey = await Cli.Bastionctl.RunAsync("ssh", "hostkey", address, "--socks", $"127.0.0.1:{socksPort}");
        Assert.True(hostkey.ExitCode == 0, hostkey.ToString());
        Assert.Contains(sshd.HostKeyFingerprint, hostkey.Stdout, StringComparison.Ordinal);
    }
}
