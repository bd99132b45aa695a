using Bastion.Tor;

namespace Bastion.Tests.Tor;

public sealed class TorrcTests
{
    private const string Authority = "DirAuthority auth1 orport=5001 no-v2 v3ident=AAAA 127.0.0.1:7001 BBBB";

    private static string Managed(params string[] extra) => Torrc.Build(new ManagedTorrc
    {
        DataDirectory = "/var/lib/bastion/tor/data",
        SocksPort = "127.0.0.1:9350",
        ControlPortFile = "/var/lib/bastion/tor/control-port",
        CookieFile = "/var/lib/bastion/tor/control_auth_cookie",
        OwnerPid = 4242,
        ExtraLines = extra,
    });

    [Fact]
    public void The_generated_torrc_has_the_socks_port_cookie_auth_an_owner_and_the_extra_lines_last()
    {
        var torrc = Managed("NumEntryGuards 2");
        Assert.Contains("DataDirectory /var/lib/bastion/tor/data\n", torrc, StringComparison.Ordinal);
        Assert.Contains("SocksPort 127.0.0.1:9350 ExtendedErrors\n", torrc, StringComparison.Ordinal);
        Assert.Contains("ControlPort auto\n", torrc, StringComparison.Ordinal);
        Assert.Contains("CookieAuthentication 1\n", torrc, StringComparison.Ordinal);
        Assert.Contains("__OwningControllerProcess 4242\n", torrc, StringComparison.Ordinal);
        Assert.EndsWith("NumEntryGuards 2\n", torrc, StringComparison.Ordinal);
    }

    [Fact]
    public void Paths_with_spaces_are_quoted_and_line_breaks_are_refused()
    {
        var torrc = Torrc.Build(new ManagedTorrc
        {
            DataDirectory = "/srv/my state/tor",
            SocksPort = "127.0.0.1:9350",
            ControlPortFile = "/x",
            CookieFile = "/y",
            OwnerPid = 1,
        });
        Assert.Contains("DataDirectory \"/srv/my state/tor\"\n", torrc, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => Torrc.Build(new ManagedTorrc { DataDirectory = "/a\nSocksPort 0.0.0.0:1", SocksPort = "1", ControlPortFile = "/x", CookieFile = "/y", OwnerPid = 1 }));
    }

    [Fact]
    public void A_production_torrc_may_reach_the_network_when_private_mode_is_off() =>
        Assert.Null(TorNetworkSafety.Check(Managed(), requirePrivate: false));

    [Theory]
    [InlineData("DisableNetwork 1")]
    [InlineData("TestingTorNetwork 1|" + Authority)]
    [InlineData("DisableNetwork 1 # no network in tests")]
    [InlineData("testingtornetwork 1|dirauthority auth1 orport=5001 no-v2 v3ident=AAAA 127.0.0.1:7001 BBBB")]
    public void In_private_mode_disable_network_or_a_loopback_test_network_is_accepted(string extra) =>
        Assert.Null(TorNetworkSafety.Check(Managed(extra.Split('|')), requirePrivate: true));

    [Theory]
    [InlineData(new string[0], "could reach the public Tor network")]
    [InlineData(new[] { "NumEntryGuards 2" }, "could reach the public Tor network")]
    [InlineData(new[] { "TestingTorNetwork 1" }, "without DirAuthority lines")]
    [InlineData(new[] { "DisableNetwork 1", "DisableNetwork 0" }, "could reach the public Tor network")]
    [InlineData(new[] { "TestingTorNetwork 1", Authority, "FallbackDir 1.2.3.4:80 orport=9001 id=AAAA" }, "'FallbackDir' is not allowed")]
    [InlineData(new[] { "TestingTorNetwork 1", Authority, "%include /etc/tor/torrc" }, "'%include' is not allowed")]
    [InlineData(new[] { "DisableNetwork 1", "%include /etc/tor/torrc.d" }, "'%include' is not allowed")]
    [InlineData(new[] { "Nickname x\\", "DisableNetwork 1" }, "ends in a backslash")]
    [InlineData(new[] { "DisableNetwork 1", "/DisableNetwork" }, "could reach the public Tor network")]
    [InlineData(new[] { "DisableNetwork 1", "DisableNetwork#" }, "could reach the public Tor network")]
    [InlineData(new[] { "TestingTorNetwork 1", Authority, "+FallbackDir 1.2.3.4:80 orport=9001 id=AAAA" }, "'FallbackDir' is not allowed")]
    [InlineData(new[] { "TestingTorNetwork 1", Authority, "/DirAuthority" }, "without DirAuthority lines")]
    [InlineData(new[] { "Nickname x\0", "DisableNetwork 1" }, "control character")]
    [InlineData(new[] { "DisableNetwork 1", "DisableNet 0" }, "could reach the public Tor network")]
    [InlineData(new[] { "DisableNet 1" }, "could reach the public Tor network")]
    [InlineData(new[] { "TestingTor 1", Authority }, "could reach the public Tor network")]
    [InlineData(new[] { "TestingTorNetwork 1", Authority, "FallbackD 1.2.3.4:80 orport=9001 id=AAAA" }, "'FallbackD' is not allowed")]
    public void In_private_mode_a_torrc_that_could_reach_the_public_network_is_refused(string[] extra, string why)
    {
        var refusal = TorNetworkSafety.Check(Managed(extra), requirePrivate: true);
        Assert.NotNull(refusal);
        Assert.Contains(why, refusal, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void A_test_network_with_an_authority_off_loopback_is_always_refused(bool requirePrivate)
    {
        var refusal = TorNetworkSafety.Check(
            Managed("TestingTorNetwork 1", Authority, "DirAuthority moria orport=9101 v3ident=CCCC 128.31.0.39:9131 DDDD"), requirePrivate);
        Assert.NotNull(refusal);
        Assert.Contains("off 127.0.0.1", refusal, StringComparison.Ordinal);
    }
}
