using Bastion.Tor;

namespace Bastion.Tests.Tor;

public sealed class CircuitStatusTests
{
    private const string Id = "25njqamcweflpvkl73j4szahhihoc4xt3ktcgjnpaingr5yhkenl5sid";
    private const string Other = "pg6mmjiyjmcrsslvykfwnntlaru7p5svn6y2ymmju6nubxndf4pscryd";

    [Fact]
    public void Only_the_service_side_rendezvous_circuits_of_this_address_are_picked()
    {
        var status = string.Join("\r\n",
            "3 BUILT $AAAA~a,$BBBB~b,$CCCC~c BUILD_FLAGS=NEED_CAPACITY PURPOSE=GENERAL TIME_CREATED=2026-12-06T20:00:00.000000",
            $"7 BUILT $AAAA~a,$BBBB~b,$CCCC~c,$DDDD~d BUILD_FLAGS=IS_INTERNAL,NEED_CAPACITY PURPOSE=HS_SERVICE_REND HS_STATE=HSSR_JOINED REND_QUERY={Id} TIME_CREATED=2026-12-06T20:00:01.000000",
            $"8 EXTENDED $AAAA~a BUILD_FLAGS=IS_INTERNAL PURPOSE=HS_SERVICE_REND HS_STATE=HSSR_CONNECTING REND_QUERY={Id}",
            $"9 BUILT $AAAA~a,$BBBB~b,$CCCC~c PURPOSE=HS_CLIENT_REND HS_STATE=HSCR_JOINED REND_QUERY={Id}",
            $"10 BUILT $AAAA~a,$BBBB~b,$CCCC~c PURPOSE=HS_SERVICE_INTRO HS_STATE=HSSI_ESTABLISHED REND_QUERY={Id}",
            $"11 BUILT $AAAA~a,$BBBB~b,$CCCC~c PURPOSE=HS_SERVICE_REND HS_STATE=HSSR_JOINED REND_QUERY={Other}",
            "");
        Assert.Equal(["7", "8"], CircuitStatus.ServiceRendezvous(status, Id));
        Assert.Equal(["11"], CircuitStatus.ServiceRendezvous(status, Other));
        Assert.Empty(CircuitStatus.ServiceRendezvous("", Id));
    }
}
