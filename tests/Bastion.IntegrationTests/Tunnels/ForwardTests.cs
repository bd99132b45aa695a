using Bastion.IntegrationTests.Infrastructure;
using Xunit.Abstractions;
using static Bastion.IntegrationTests.Tunnels.TunnelYaml;

namespace Bastion.IntegrationTests.Tunnels;

/// <summary>-L, -R and -D against a real OpenSSH sshd: data both ways, one shared session, counters in status.</summary>
public sealed class ForwardTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task Local_remote_and_dynamic_tunnels_carry_data_both_ways_over_one_shared_session()
    {
        await using var sshd = await Sshd.StartAsync(Path.GetTempPath(), output);
        await using var echo = new EchoServer();
        var key = await sshd.CreateUserKeyAsync();
        var remotePort = FreePort.Pick();
        await using var daemon = new BastiondProcess(output, TunnelsYaml(
            Item("fwd-local", "local", sshd, key, "127.0.0.1:0", $"127.0.0.1:{echo.Port}"),
            Item("fwd-remote", "remote", sshd, key, $"127.0.0.1:{remotePort}", $"127.0.0.1:{echo.Port}"),
            Item("fwd-socks", "dynamic", sshd, key, "127.0.0.1:0", null)));
        await daemon.StartAndWaitReadyAsync();
        var local = await daemon.WaitForComponentAsync("fwd-local", "Running");
        var remote = await daemon.WaitForComponentAsync("fwd-remote", "Running");
        var socks = await daemon.WaitForComponentAsync("fwd-socks", "Running");
        Assert.Equal("tunnel", local.Kind);
        Assert.Equal($"{Sshd.User}@127.0.0.1:{sshd.Port}", local.Details["session"]);
        Assert.Equal(sshd.HostKeyFingerprint, local.Details["hostKey"]);
        Assert.Equal(remotePort.ToString(), remote.Details["boundPort"]);

        // -L: the local bound port (we asked for port 0) leads to the echo service through sshd.
        await using (var viaLocal = await EchoClient.ConnectAsync(int.Parse(local.Details["boundPort"])))
        {
            await viaLocal.RoundTripAsync(256 * 1024);
        }
        // -R: the server listens on remotePort; connections come back to the echo service here.
        await using (var viaRemote = await EchoClient.ConnectAsync(remotePort))
        {
            await viaRemote.RoundTripAsync(256 * 1024);
        }
        // -D: a SOCKS5 client names the destination (by host name) and talks to it through the server.
        using (var socksClient = await Socks5.ConnectAsync(int.Parse(socks.Details["boundPort"]), "localhost", echo.Port))
        await using (var viaSocks = await EchoClient.OverAsync(socksClient))
        {
            await viaSocks.RoundTripAsync(256 * 1024);
        }

        var counted = await daemon.WaitForStatusAsync(
            s => s.Components.Single(c => c.Name == "fwd-remote").Details.ContainsKey("endToEnd") && s.Components.All(c => long.Parse(c.Details.GetValueOrDefault("bytesOut", "0")) >= 256 * 1024
                && long.Parse(c.Details.GetValueOrDefault("bytesIn", "0")) >= 256 * 1024),
            "bytes counted both ways on every tunnel");
        foreach (var c in counted.Components)
        {
            Assert.True(long.Parse(c.Details["connections"]) >= 1, $"{c.Name}: connections {c.Details["connections"]}");
            Assert.Equal("1", c.Details["connects"]);
            Assert.Equal("0", c.Details["reconnects"]);
        }
        // The remote tunnel checks itself end to end: through the server's bound port back to the target here.
        Assert.Equal("ok", counted.Components.Single(c => c.Name == "fwd-remote").Details.GetValueOrDefault("endToEnd"));
        // Three tunnels to one server with one key: one SSH session, with the AEAD cipher first in our list.
        Assert.Single(sshd.LogLines, l => l.Contains("Accepted publickey for", StringComparison.Ordinal));
        Assert.Contains(daemon.Log.Lines, l => l.Contains("aes128-gcm@openssh.com", StringComparison.Ordinal) && l.Contains("connected", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Many_ssh_windows_of_data_through_local_and_dynamic_tunnels_come_back_intact_and_are_counted_exactly()
    {
        // 16 MiB each way is eight of the channel's 2 MiB windows in each direction: the window is re-opened as the
        // client reads, and our sends wait for the server's window (both only exercised past one window).
        const int size = 16 * 1024 * 1024;
        await using var sshd = await Sshd.StartAsync(Path.GetTempPath(), output);
        await using var echo = new EchoServer();
        var key = await sshd.CreateUserKeyAsync();
        await using var daemon = new BastiondProcess(output, TunnelsYaml(
            Item("fwd-local", "local", sshd, key, "127.0.0.1:0", $"127.0.0.1:{echo.Port}", probe: RelayAbuseTests.LenientProbe),
            Item("fwd-socks", "dynamic", sshd, key, "127.0.0.1:0", null, probe: RelayAbuseTests.LenientProbe)));
        await daemon.StartAndWaitReadyAsync();
        var local = await daemon.WaitForComponentAsync("fwd-local", "Running");
        var socks = await daemon.WaitForComponentAsync("fwd-socks", "Running");

        await using (var viaLocal = await EchoClient.ConnectAsync(int.Parse(local.Details["boundPort"])))
        {
            await viaLocal.RoundTripAsync(size);
        }
        using (var socksClient = await Socks5.ConnectAsync(int.Parse(socks.Details["boundPort"]), "127.0.0.1", echo.Port))
        await using (var viaSocks = await EchoClient.OverAsync(socksClient))
        {
            await viaSocks.RoundTripAsync(size);
        }

        // Exactly the payload each way, plus the echo service's greeting inward (the SOCKS handshake is not counted),
        // once both connections have ended.
        var counted = await daemon.WaitForStatusAsync(
            s => s.Components.All(c => c.Details.GetValueOrDefault("activeConnections") == "0"
                && long.Parse(c.Details.GetValueOrDefault("bytesIn", "0")) >= size),
            "both connections ended and counted");
        foreach (var c in counted.Components)
        {
            Assert.Equal(size.ToString(), c.Details["bytesOut"]);
            Assert.Equal((size + EchoServer.Greeting.Length).ToString(), c.Details["bytesIn"]);
        }
    }

    [Fact]
    public async Task A_socks_destination_the_server_cannot_reach_is_answered_host_unreachable()
    {
        await using var sshd = await Sshd.StartAsync(Path.GetTempPath(), output);
        var key = await sshd.CreateUserKeyAsync();
        await using var daemon = new BastiondProcess(output, TunnelsYaml(
            Item("fwd-socks", "dynamic", sshd, key, "127.0.0.1:0", null, probe: RelayAbuseTests.LenientProbe)));
        await daemon.StartAndWaitReadyAsync();
        var socks = await daemon.WaitForComponentAsync("fwd-socks", "Running");
        var closed = FreePort.Pick(); // nothing listens there: sshd's connect fails and it refuses the channel

        using var client = new System.Net.Sockets.TcpClient();
        await client.ConnectAsync(System.Net.IPAddress.Loopback, int.Parse(socks.Details["boundPort"])).WaitAsync(Patience);
        var stream = client.GetStream();
        await stream.WriteAsync(new byte[] { 5, 1, 0 }).AsTask().WaitAsync(Patience);
        var method = new byte[2];
        await stream.ReadExactlyAsync(method).AsTask().WaitAsync(Patience);
        Assert.Equal(new byte[] { 5, 0 }, method);
        await stream.WriteAsync(new byte[] { 5, 1, 0, 1, 127, 0, 0, 1, (byte)(closed >> 8), (byte)closed }).AsTask().WaitAsync(Patience);
        var reply = new byte[10];
        await stream.ReadExactlyAsync(reply).AsTask().WaitAsync(Patience);
        Assert.Equal(5, reply[0]);
        Assert.Equal(4, reply[1]); // host unreachable (RFC 1928), never "succeeded" for a connection that does not exist
    }

    [Fact]
    public async Task A_tunnel_via_a_socks5_proxy_passes_the_host_name_and_carries_data()
    {
        await using var sshd = await Sshd.StartAsync(Path.GetTempPath(), output);
        await using var echo = new EchoServer();
        var key = await sshd.CreateUserKeyAsync();
        // OpenSSH's own -D is a real SOCKS5 proxy (as tor's SocksPort would be); it resolves the name we pass.
        var proxyPort = FreePort.Pick();
        using var proxy = new System.Diagnostics.Process
        {
            StartInfo = new("ssh", [
                "-N", "-D", $"127.0.0.1:{proxyPort}", "-p", sshd.Port.ToString(), "-i", key,
                "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes",
                "-o", "ExitOnForwardFailure=yes", $"{Sshd.User}@127.0.0.1"]) { RedirectStandardError = true },
        };
        proxy.Start();
        try
        {
            await WaitForListenerAsync(proxyPort);
            await using var daemon = new BastiondProcess(output, TunnelsYaml(
                Item("via-socks", "local", sshd, key, "127.0.0.1:0", $"127.0.0.1:{echo.Port}", host: "localhost",
                    hostKey: $"fingerprints: [\"{sshd.HostKeyFingerprint}\"]",
                    extra: $"    via: tor\n    socks: 127.0.0.1:{proxyPort}\n")));
            await daemon.StartAndWaitReadyAsync();
            var tunnel = await daemon.WaitForComponentAsync("via-socks", "Running");
            Assert.Equal($"{Sshd.User}@localhost:{sshd.Port} via socks 127.0.0.1:{proxyPort}", tunnel.Details["session"]);
            await using var client = await EchoClient.ConnectAsync(int.Parse(tunnel.Details["boundPort"]));
            await client.RoundTripAsync();
        }
        finally
        {
            proxy.Kill();
            await proxy.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
        }
    }

    internal static async Task WaitForListenerAsync(int port)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (true)
        {
            try
            {
                using var probe = new System.Net.Sockets.TcpClient();
                await probe.ConnectAsync(System.Net.IPAddress.Loopback, port);
                return;
            }
            catch (System.Net.Sockets.SocketException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(50);
            }
        }
    }
}
