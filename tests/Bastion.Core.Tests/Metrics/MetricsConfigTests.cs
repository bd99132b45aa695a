using Bastion.Config;
using static Bastion.Tests.Config.ConfigTestSupport;

namespace Bastion.Tests.Metrics;

public sealed class MetricsConfigTests
{
    [Fact]
    public void Metrics_are_off_when_the_section_is_absent()
    {
        Assert.Null(LoadValid("logging:\n  level: debug\n").Metrics);
    }

    [Fact]
    public void A_tcp_listen_address_and_include_addresses_are_bound()
    {
        var metrics = LoadValid("metrics:\n  listen: 127.0.0.1:9469\n  includeAddresses: true\n").Metrics!;

        Assert.Equal(new BackendAddress(new Endpoint("127.0.0.1", 9469), null), metrics.Listen);
        Assert.True(metrics.IncludeAddresses);
    }

    [Fact]
    public void A_unix_socket_and_port_0_are_accepted_and_addresses_are_off_by_default()
    {
        var unix = LoadValid("metrics:\n  listen: unix:/run/bastion/metrics.sock\n").Metrics!;
        Assert.Equal(new BackendAddress(null, "/run/bastion/metrics.sock"), unix.Listen);
        Assert.False(unix.IncludeAddresses);

        Assert.Equal(0, LoadValid("metrics:\n  listen: 127.0.0.1:0\n").Metrics!.Listen.Tcp!.Port);
    }

    [Fact]
    public void A_missing_listen_is_an_error_that_shows_both_forms()
    {
        var error = Assert.Single(Errors("metrics:\n  includeAddresses: false\n"));

        Assert.Contains("metrics.listen", error, StringComparison.Ordinal);
        Assert.Contains("unix:/run/bastion/metrics.sock", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("listen: 127.0.0.1", "host:port")]
    [InlineData("listen: 'unix:'", "unix: needs a socket path")]
    [InlineData("listen: [a, b]", "a single value")]
    public void A_bad_listen_address_is_one_clear_error(string line, string expected)
    {
        var error = Assert.Single(Errors("metrics:\n  " + line + "\n"));

        Assert.Contains("metrics.listen", error, StringComparison.Ordinal);
        Assert.Contains(expected, error, StringComparison.Ordinal);
    }

    [Fact]
    public void Include_addresses_takes_true_or_false_only()
    {
        var error = Assert.Single(Errors("metrics:\n  listen: 127.0.0.1:9469\n  includeAddresses: yes\n"));

        Assert.Contains("includeAddresses", error, StringComparison.Ordinal);
        Assert.Contains("true, false", error, StringComparison.Ordinal);
    }

    [Fact]
    public void An_unknown_key_in_metrics_is_reported()
    {
        var error = Assert.Single(Errors("metrics:\n  listen: 127.0.0.1:9469\n  lisen: x\n"));

        Assert.Contains("lisen", error, StringComparison.Ordinal);
    }
}
