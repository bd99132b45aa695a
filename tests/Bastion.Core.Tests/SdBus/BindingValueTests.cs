using System.Text;
using Bastion.SdBus;

namespace Bastion.Tests.SdBus;

public sealed class BindingValueTests
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
    public void Strings_are_sent_as_nul_terminated_utf8_with_an_embedded_nul_or_lone_surrogate_replaced()
    {
        Assert.Equal("é\0"u8.ToArray(), BusMessage.Utf8Z("é"));
        var withNul = BusMessage.Utf8Z("a\0b");
        Assert.Equal("a\uFFFDb", Encoding.UTF8.GetString(withNul, 0, withNul.Length - 1));
        Assert.Equal(0, withNul[^1]);
        var surrogate = BusMessage.Utf8Z("x\uD800y");
        Assert.Equal("x\uFFFDy", Encoding.UTF8.GetString(surrogate, 0, surrogate.Length - 1));
    }
}
