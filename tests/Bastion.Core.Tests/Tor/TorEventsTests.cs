using System.Text;
using Bastion.Tor;

namespace Bastion.Tests.Tor;

public sealed class TorEventsTests
{
    private static TorReply One(string text) => Assert.Single(new TorReplyReader().Feed(Encoding.ASCII.GetBytes(text)));

    [Fact]
    public void An_hs_desc_uploaded_event_names_the_address_and_the_hsdir()
    {
        var e = HsDescEvent.TryParse(One("650 HS_DESC UPLOADED abcdef UNKNOWN $7EBEA3BB~auth3 REPLICA=0\r\n"));
        Assert.NotNull(e);
        Assert.Equal("UPLOADED", e.Action);
        Assert.Equal("abcdef", e.Address);
        Assert.Equal("$7EBEA3BB~auth3", e.HsDir);
    }

    [Fact]
    public void Bootstrap_progress_is_read_from_a_status_client_event_with_a_quoted_summary()
    {
        var phase = BootstrapPhase.TryParse(One("650 STATUS_CLIENT NOTICE BOOTSTRAP PROGRESS=45 TAG=requesting_descriptors SUMMARY=\"Asking for \\\"relay\\\" descriptors\"\r\n"));
        Assert.NotNull(phase);
        Assert.Equal(45, phase.Progress);
        Assert.Equal("bootstrapping 45%: Asking for \"relay\" descriptors", phase.ToString());
    }

    [Fact]
    public void Bootstrap_progress_is_read_from_getinfo_and_100_is_done()
    {
        var phase = BootstrapPhase.TryParse("NOTICE BOOTSTRAP PROGRESS=100 TAG=done SUMMARY=\"Done\"");
        Assert.NotNull(phase);
        Assert.True(phase.Done);
        Assert.Equal("bootstrapped 100%", phase.ToString());
    }

    [Theory]
    [InlineData("NOTICE BOOTSTRAP PROGRESS=abc")]
    [InlineData("NOTICE BOOTSTRAP PROGRESS=101")]
    [InlineData("NOTICE CIRCUIT_ESTABLISHED")]
    [InlineData("")]
    public void Anything_else_is_not_bootstrap_progress(string text) => Assert.Null(BootstrapPhase.TryParse(text));

    [Fact]
    public void An_unterminated_quote_ends_at_the_line_end_instead_of_throwing()
    {
        var args = TorArguments.Parse("AUTH METHODS=COOKIE,SAFECOOKIE COOKIEFILE=\"/var/lib/tor/control auth");
        Assert.Equal("COOKIE,SAFECOOKIE", args["METHODS"]);
        Assert.Equal("/var/lib/tor/control auth", args["COOKIEFILE"]);
    }

    [Theory]
    [InlineData("GETINFO x\r\nSIGNAL HALT")]
    [InlineData("a\nb")]
    [InlineData("nul\0")]
    public void A_command_argument_with_a_line_break_is_refused_so_no_second_command_can_be_smuggled_in(string value)
    {
        Assert.Throws<ArgumentException>(() => TorCommand.Line("GETINFO", value));
        Assert.Throws<ArgumentException>(() => TorCommand.Quote(value));
        Assert.Throws<ArgumentException>(() => TorCommand.Word(value));
    }

    [Fact]
    public void Quoting_escapes_backslashes_and_quotes()
    {
        Assert.Equal("\"a\\\\b\\\"c\"", TorCommand.Quote("a\\b\"c"));
        Assert.Equal("a\\b\"c", TorArguments.Parse("X=" + TorCommand.Quote("a\\b\"c"))["X"]);
        Assert.Throws<ArgumentException>(() => TorCommand.Word("two words"));
        Assert.Equal("ADD_ONION NEW:ED25519-V3 Port=22,127.0.0.1:22\r\n", TorCommand.Line("ADD_ONION", "NEW:ED25519-V3", "Port=22,127.0.0.1:22"));
    }
}
