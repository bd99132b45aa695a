using Bastion.Config;
using static Bastion.Tests.Config.ConfigTestSupport;

namespace Bastion.Tests.Tor;

public sealed class TorConfigTests
{
    [Fact]
    public void The_default_socks_port_is_not_the_system_tors_9050()
    {
        var config = LoadValid("onion:\n  services:\n    - name: ssh");
        Assert.Equal(new Endpoint("127.0.0.1", 9350), config.Onion!.Tor.SocksPort);
        Assert.Null(config.Onion.Tor.Control);
    }

    [Theory]
    [InlineData("DataDirectory /tmp/x", "sets DataDirectory, which Bastion sets itself for the tor it manages — remove this line")]
    [InlineData("controlport 9051", "sets ControlPort, which Bastion sets itself for the tor it manages — remove this line")]
    [InlineData("SocksPort 9050", "sets SocksPort, which Bastion sets itself for the tor it manages — use onion.tor.socksPort instead")]
    [InlineData("+SocksPort 9050", "sets SocksPort, which Bastion sets itself for the tor it manages — use onion.tor.socksPort instead")]
    [InlineData("/ControlPort", "sets ControlPort, which Bastion sets itself")]
    [InlineData("__ControlPort 9051", "sets ControlPort, which Bastion sets itself")]
    [InlineData("__SocksPort 9050", "sets SocksPort, which Bastion sets itself")]
    [InlineData("+__ControlPort 9051", "sets ControlPort, which Bastion sets itself")]
    [InlineData("CookieAuthF /tmp/cookie", "sets CookieAuthFile, which Bastion sets itself")]
    [InlineData("  DataDirectory#comment", "sets DataDirectory, which Bastion sets itself")]
    [InlineData("%include /etc/tor/torrc.d", "includes other files (%include) — write the options themselves into extraConfig")]
    [InlineData("%INCLUDE /tmp/x", "includes other files (%include)")]
    public void Extra_torrc_lines_may_not_override_what_bastion_manages(string line, string message)
    {
        var error = SingleError($"onion:\n  tor:\n    extraConfig:\n      - \"{line}\"\n");
        Assert.Contains("onion.tor.extraConfig[0]", error, StringComparison.Ordinal);
        Assert.Contains(message, error, StringComparison.Ordinal);
    }

    [Fact]
    public void Other_extra_torrc_lines_are_kept_verbatim_in_order()
    {
        var config = LoadValid("onion:\n  tor:\n    extraConfig:\n      - NumEntryGuards 2\n      - \"TestingTorNetwork 1\"\n");
        Assert.Equal(["NumEntryGuards 2", "TestingTorNetwork 1"], config.Onion!.Tor.ExtraConfig);
    }

    [Fact]
    public void An_existing_tors_cookie_file_comes_from_the_config_with_debians_path_as_default()
    {
        var config = LoadValid("onion:\n  tor:\n    control: 127.0.0.1:9051\n  services:\n    - name: ssh");
        Assert.Equal("/run/tor/control.authcookie", config.Onion!.Tor.CookieFile);
        var set = LoadValid("onion:\n  tor:\n    control: 127.0.0.1:9051\n    cookieFile: /var/lib/tor/control_auth_cookie\n");
        Assert.Equal("/var/lib/tor/control_auth_cookie", set.Onion!.Tor.CookieFile);
        var error = SingleError("onion:\n  tor:\n    cookieFile: /var/lib/tor/control_auth_cookie\n");
        Assert.Contains("is set without onion.tor.control", error, StringComparison.Ordinal);
    }
}
