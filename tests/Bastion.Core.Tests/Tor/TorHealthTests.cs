using Bastion.Tor;

namespace Bastion.Tests.Tor;

public sealed class TorHealthTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(5);
    private static readonly BootstrapPhase Done = new(100, "done", "Done", null);

    [Fact]
    public void No_answer_within_the_deadline_is_tor_not_answering_whatever_it_said_before()
    {
        var h = TorHealth.Classify(false, Deadline, Done, "up", "1");
        Assert.Equal(TorHealthState.NotAnswering, h.State);
        Assert.Equal("tor not answering its control port (no answer within 5 s)", h.Reason);
    }

    [Theory]
    [InlineData("down", "1", "no relays reachable: tor sees its network as down")]
    [InlineData("up", "0", "no relays reachable: tor has no circuit established")]
    public void A_bootstrapped_tor_without_live_network_or_circuits_reaches_no_relays(string liveness, string circuits, string reason)
    {
        var h = TorHealth.Classify(true, Deadline, Done, liveness, circuits);
        Assert.Equal((TorHealthState.NoRelays, reason), (h.State, h.Reason));
    }

    [Fact]
    public void A_bootstrap_warning_with_noroute_is_network_unreachable_not_just_bootstrapping()
    {
        var phase = BootstrapPhase.TryParse("WARN BOOTSTRAP PROGRESS=0 TAG=starting SUMMARY=\"Starting\" WARNING=\"Network is unreachable\" REASON=NOROUTE")!;
        var h = TorHealth.Classify(true, Deadline, phase, "down", "0");
        Assert.Equal(TorHealthState.NetworkUnreachable, h.State);
        Assert.StartsWith("network unreachable", h.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Bootstrapped_live_and_with_circuits_is_healthy_and_still_bootstrapping_is_not()
    {
        Assert.True(TorHealth.Classify(true, Deadline, Done, "up", "1").Serves);
        var h = TorHealth.Classify(true, Deadline, new BootstrapPhase(45, "x", "Asking for relay descriptors", null), "up", "0");
        Assert.Equal(TorHealthState.Bootstrapping, h.State);
        Assert.False(h.Serves);
    }

    [Fact]
    public void A_tor_that_still_says_live_and_circuit_established_but_has_no_relay_connection_reaches_no_relays()
    {
        // Measured: with every relay gone tor keeps network-liveness=up and circuit-established=1 for minutes.
        var h = TorHealth.Classify(true, Deadline, Done, "up", "1", relayConnections: 0);
        Assert.Equal((TorHealthState.NoRelays, "no relays reachable: tor has no open connection to any relay"), (h.State, h.Reason));
        Assert.True(TorHealth.Classify(true, Deadline, Done, "up", "1", relayConnections: 2).Serves);
        Assert.True(TorHealth.Classify(true, Deadline, Done, "up", "1", relayConnections: null).Serves);
        // A dormant tor closes its connections on purpose: idle, not cut off.
        Assert.True(TorHealth.Classify(true, Deadline, Done, "up", "1", relayConnections: 0, dormant: true).Serves);
    }

    [Fact]
    public void Open_relay_connections_are_the_connected_lines_of_orconn_status()
    {
        const string Status = "$1C0308E5611EAE2C7D87C1D03A46E56219961F15~auth2 CONNECTED\r\n$DECA6713D9652B6A91D1D4773B9A71BDE8274B9F~auth1 LAUNCHED\n$AB~auth3 CONNECTED";
        Assert.Equal(2, TorHealth.CountOpenRelayConnections(Status));
        Assert.Equal(0, TorHealth.CountOpenRelayConnections(""));
    }
}
