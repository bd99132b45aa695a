using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Bastion.Daemon.Tunnels;
using Bastion.IntegrationTests.Infrastructure;
using Xunit.Abstractions;
using static Bastion.IntegrationTests.Tunnels.TunnelYaml;

namespace Bastion.IntegrationTests.Tunnels;

/// <summary>EOF travels in one direction while the other keeps flowing (TCP half-close), as with ssh -L.</summary>
public sealed class HalfCloseTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task The_relay_carries_the_clients_eof_to_the_target_and_the_targets_answer_back()
    {
        await using var target = new CountAfterEofServer(eofFirst: false);
        await using var relay = new CountingRelay(new IPEndPoint(IPAddress.Loopback, 0), new RelayOptions(RelayLimits.Unlimited, RelayUpstreams.Tcp),
            CountingRelay.To(() => ("127.0.0.1", target.Port)), e => output.WriteLine("relay: " + e), TimeProvider.System);
        relay.Start();

        Assert.Equal("BANNER\n5\n", await SendThenReadAsync(relay.BoundPort));
        Assert.Equal(5, await target.Counted.WaitAsync(Patience));
    }

    [Fact]
    public async Task The_relay_carries_the_targets_eof_to_the_client_and_the_clients_bytes_still_reach_the_target()
    {
        await using var target = new CountAfterEofServer(eofFirst: true);
        await using var relay = new CountingRelay(new IPEndPoint(IPAddress.Loopback, 0), new RelayOptions(RelayLimits.Unlimited, RelayUpstreams.Tcp),
            CountingRelay.To(() => ("127.0.0.1", target.Port)), e => output.WriteLine("relay: " + e), TimeProvider.System);
        relay.Start();

        Assert.Equal("BANNER\n", await ReadToEofThenSendAsync(relay.BoundPort));
        Assert.Equal(5, await target.Counted.WaitAsync(Patience));
    }

    [Theory]
    [InlineData("local")]
    [InlineData("dynamic")]
    [InlineData("remote")]
    public async Task Through_a_tunnel_the_clients_eof_reaches_the_target_and_its_answer_comes_back(string kind)
    {
        await using var sshd = await Sshd.StartAsync(Path.GetTempPath(), output);
        await using var target = new CountAfterEofServer(eofFirst: false);
        var port = await StartTunnelAsync(sshd, kind, target.Port);
        await using var daemon = port.Daemon;

        // As `printf hello | nc -N BIND` to a target that answers after EOF (`wc -c`): the answer arrives.
        Assert.Equal("BANNER\n5\n", await SendThenReadAsync(port.Port, kind == "dynamic" ? target.Port : null));
        Assert.Equal(5, await target.Counted.WaitAsync(Patience));
    }

    [Theory]
    [InlineData("local")]
    [InlineData("dynamic")]
    [InlineData("remote")]
    public async Task Through_a_tunnel_the_targets_eof_reaches_the_client_and_the_clients_bytes_still_reach_the_target(string kind)
    {
        await using var sshd = await Sshd.StartAsync(Path.GetTempPath(), output);
        await using var target = new CountAfterEofServer(eofFirst: true);
        var port = await StartTunnelAsync(sshd, kind, target.Port);
        await using var daemon = port.Daemon;

        Assert.Equal("BANNER\n", await ReadToEofThenSendAsync(port.Port, kind == "dynamic" ? target.Port : null));
        Assert.Equal(5, await target.Counted.WaitAsync(Patience));
    }

    private async Task<(BastiondProcess Daemon, int Port)> StartTunnelAsync(Sshd sshd, string kind, int targetPort)
    {
        var key = await sshd.CreateUserKeyAsync();
        // -R: the server listens on a port of its own, and the relay connects to the target from here.
        var bind = kind == "remote" ? $"127.0.0.1:{FreePort.Pick()}" : "127.0.0.1:0";
        var daemon = new BastiondProcess(output, TunnelsYaml(
            Item("t", kind, sshd, key, bind, kind is "local" or "remote" ? $"127.0.0.1:{targetPort}" : null, probe: RelayAbuseTests.LenientProbe)));
        try
        {
            await daemon.StartAndWaitReadyAsync();
            var port = int.Parse((await daemon.WaitForComponentAsync("t", "Running")).Details["boundPort"], CultureInfo.InvariantCulture);
            return (daemon, port);
        }
        catch
        {
            await daemon.DisposeAsync();
            throw;
        }
    }

    /// <summary>Sends "hello", half-closes, and reads everything until the far end's EOF.</summary>
    private static async Task<string> SendThenReadAsync(int port, int? socksTo = null)
    {
        using var client = await ConnectAsync(port, socksTo);
        var s = client.Client;
        await s.SendAsync("hello"u8.ToArray(), SocketFlags.None).WaitAsync(Patience);
        s.Shutdown(SocketShutdown.Send);
        return await ReadToEofAsync(s);
    }

    /// <summary>Reads until the far end's EOF, then sends "hello" and half-closes.</summary>
    private static async Task<string> ReadToEofThenSendAsync(int port, int? socksTo = null)
    {
        using var client = await ConnectAsync(port, socksTo);
        var s = client.Client;
        var text = await ReadToEofAsync(s);
        await s.SendAsync("hello"u8.ToArray(), SocketFlags.None).WaitAsync(Patience);
        s.Shutdown(SocketShutdown.Send);
        return text;
    }

    private static async Task<TcpClient> ConnectAsync(int port, int? socksTo)
    {
        if (socksTo is { } destination)
        {
            return await Socks5.ConnectAsync(port, "127.0.0.1", destination);
        }
        var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, port).WaitAsync(Patience);
        return client;
    }

    private static async Task<string> ReadToEofAsync(Socket s)
    {
        var text = new StringBuilder();
        var buffer = new byte[1024];
        int n;
        while ((n = await s.ReceiveAsync(buffer, SocketFlags.None).WaitAsync(Patience)) > 0)
        {
            text.Append(Encoding.ASCII.GetString(buffer, 0, n));
        }
        return text.ToString();
    }
}
