using Bastion.Api;

namespace Bastion.Tests.Api;

public sealed class ApiValueTests
{
    [Fact]
    public void Reconnect_backoff_starts_at_100ms_doubles_and_stops_at_5s()
    {
        Assert.Equal(TimeSpan.FromMilliseconds(100), ReconnectBackoff.Delay(0));
        Assert.Equal(TimeSpan.FromMilliseconds(200), ReconnectBackoff.Delay(1));
        Assert.Equal(TimeSpan.FromMilliseconds(1600), ReconnectBackoff.Delay(4));
        Assert.Equal(TimeSpan.FromSeconds(5), ReconnectBackoff.Delay(6));
        Assert.Equal(TimeSpan.FromSeconds(5), ReconnectBackoff.Delay(int.MaxValue));
    }

    [Fact]
    public void Times_travel_as_microseconds_since_the_epoch_and_come_back_equal()
    {
        var t = new DateTimeOffset(2026, 11, 23, 1, 2, 3, TimeSpan.FromHours(1)).AddTicks(4560);
        var us = ComponentCodec.ToMicroseconds(t);

        Assert.Equal(t.ToUnixTimeMilliseconds() * 1000 + 456, us);
        Assert.Equal(t, ComponentCodec.FromMicroseconds(us));
        Assert.Equal(0, ComponentCodec.ToMicroseconds(DateTimeOffset.UnixEpoch));
    }

    [Fact]
    public void A_nul_in_a_reported_text_is_replaced_so_the_bus_never_sees_an_invalid_string()
    {
        Assert.Equal("a\uFFFDb", ComponentCodec.Text("a\0b"));
        Assert.Equal("é", ComponentCodec.Text("é"));
    }

    [Fact]
    public void The_system_bus_is_where_the_environment_says_or_the_standard_socket()
    {
        var saved = Environment.GetEnvironmentVariable("DBUS_SYSTEM_BUS_ADDRESS");
        try
        {
            Environment.SetEnvironmentVariable("DBUS_SYSTEM_BUS_ADDRESS", null);
            Assert.Equal(BusTarget.DefaultSystemAddress, BusTarget.System.Resolve());
            Environment.SetEnvironmentVariable("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/tmp/x");
            Assert.Equal("unix:path=/tmp/x", BusTarget.System.Resolve());
            Assert.Equal("unix:path=/run/y", BusTarget.At("unix:path=/run/y").Resolve());
        }
        finally
        {
            Environment.SetEnvironmentVariable("DBUS_SYSTEM_BUS_ADDRESS", saved);
        }
    }
}
