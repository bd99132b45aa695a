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
}
