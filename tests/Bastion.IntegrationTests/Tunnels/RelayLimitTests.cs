using System.Net;
using System.Net.Sockets;
using Bastion.Daemon.Tunnels;
using Xunit.Abstractions;

namespace Bastion.IntegrationTests.Tunnels;

/// <summary>The counting relay on its own (no SSH): past its limits a connection is refused at once and counted.</summary>
public sealed class RelayLimitTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    [Theory]
    [InlineData(3, int.MaxValue, false)]
    [InlineData(100, 3, true)]
    public async Task Connections_past_a_limit_are_refused_and_counted_while_those_within_it_are_served(int total, int perSource, bool bySource)
    {
        var expected = bySource ? RelayRefusal.SourceLimit : RelayRefusal.TunnelLimit;
        await using var echo = new EchoServer();
        await using var relay = new CountingRelay(new IPEndPoint(IPAddress.Loopback, 0), new RelayOptions(new RelayLimits(total, perSource), RelayUpstreams.Tcp),
            CountingRelay.To(() => ("127.0.0.1", echo.Port)), e => output.WriteLine("relay: " + e), TimeProvider.System);
        relay.Start();

        var served = new List<EchoClient>();
        for (var i = 0; i < 3; i++)
        {
            served.Add(await EchoClient.ConnectAsync(relay.BoundPort));
        }
        // Two more from the same user: the relay closes them without relaying a byte.
        for (var i = 0; i < 2; i++)
        {
            using var refused = new TcpClient();
            var buffer = new byte[64];
            try
            {
                await refused.ConnectAsync(IPAddress.Loopback, relay.BoundPort).WaitAsync(Patience);
                var n = await refused.GetStream().ReadAsync(buffer).AsTask().WaitAsync(Patience);
                Assert.Equal(0, n);
            }
            catch (Exception e) when (e is IOException or SocketException)
            {
                // reset: refused with RST (possibly before the connect call returned)
            }
        }
        Assert.Equal(2, relay.Refused(expected));
        Assert.Equal(3, relay.Active);

        // Those within the limit still work, and one that ends makes room for a new one.
        await served[0].RoundTripAsync(32 * 1024);
        await served[2].DisposeAsync();
        var deadline = DateTime.UtcNow + Patience;
        while (relay.Active > 2 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }
        await using (var next = await EchoClient.ConnectAsync(relay.BoundPort))
        {
            await next.RoundTripAsync(1024);
        }
        await served[0].DisposeAsync();
        await served[1].DisposeAsync();
    }
}
