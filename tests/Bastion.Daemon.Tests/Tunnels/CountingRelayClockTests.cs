using System.Net;
using System.Net.Sockets;
using Bastion.Daemon.Tunnels;
using Microsoft.Extensions.Time.Testing;

namespace Bastion.Daemon.Tests.Tunnels;

/// <summary>The relay's timeouts run on the clock it is given (the host's TimeProvider), not on the wall clock.</summary>
public sealed class CountingRelayClockTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task A_client_that_never_finishes_its_handshake_is_closed_when_the_relays_clock_passes_the_handshake_timeout()
    {
        var clock = new FakeTimeProvider();
        var routeAsked = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        // A route that waits for the client's request (as SOCKS does) until the handshake is cancelled.
        async Task<Upstream?> WaitForever(Socket client, CancellationToken cancellationToken)
        {
            routeAsked.TrySetResult();
            await Task.Delay(Timeout.InfiniteTimeSpan, cancellationToken);
            return null;
        }
        await using var relay = new CountingRelay(new IPEndPoint(IPAddress.Loopback, 0), new RelayOptions(RelayLimits.Unlimited, RelayUpstreams.Tcp),
            WaitForever, _ => { }, clock);
        relay.Start();
        using var silent = new TcpClient();
        await silent.ConnectAsync(IPAddress.Loopback, relay.BoundPort).WaitAsync(Limit);
        await routeAsked.Task.WaitAsync(Limit);

        clock.Advance(CountingRelay.HandshakeTimeout - TimeSpan.FromSeconds(1));
        await Task.Delay(200); // real time passes: nothing happens while the relay's clock stands still
        Assert.Equal(1, relay.Active);

        clock.Advance(TimeSpan.FromSeconds(2));
        var read = silent.GetStream().ReadAsync(new byte[1]).AsTask();
        Assert.Equal(0, await read.WaitAsync(Limit)); // closed by the relay
        var deadline = DateTime.UtcNow + Limit;
        while (relay.Active != 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(10);
        }
        Assert.Equal(0, relay.Active);
    }
}
