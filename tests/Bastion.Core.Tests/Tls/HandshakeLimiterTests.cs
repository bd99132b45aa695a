using System.Net;
using Bastion.Tls;
using Microsoft.Extensions.Time.Testing;

namespace Bastion.Tests.Tls;

public sealed class HandshakeLimiterTests
{
    private readonly FakeTimeProvider _time = new();
    private static readonly IPAddress A = IPAddress.Parse("192.0.2.1");
    private static readonly IPAddress B = IPAddress.Parse("192.0.2.2");

    [Fact]
    public void An_address_is_blocked_at_the_limit_and_free_again_when_failures_age_out()
    {
        var limiter = new HandshakeLimiter(3, _time);
        Assert.False(limiter.RecordFailure(A));
        Assert.False(limiter.RecordFailure(A));
        Assert.False(limiter.IsBlocked(A));
        Assert.True(limiter.RecordFailure(A)); // reached: log once
        Assert.True(limiter.IsBlocked(A));
        Assert.False(limiter.IsBlocked(B));
        _time.Advance(TimeSpan.FromSeconds(59));
        Assert.True(limiter.IsBlocked(A));
        _time.Advance(TimeSpan.FromSeconds(2));
        Assert.False(limiter.IsBlocked(A));
    }

    [Fact]
    public void An_IPv4_mapped_IPv6_address_counts_as_its_IPv4_address()
    {
        var limiter = new HandshakeLimiter(1, _time);
        limiter.RecordFailure(A.MapToIPv6());
        Assert.True(limiter.IsBlocked(A));
    }

    [Fact]
    public void Memory_stays_bounded_under_a_flood_of_addresses()
    {
        var limiter = new HandshakeLimiter(2, _time);
        for (var i = 0; i < HandshakeLimiter.MaxTrackedAddresses * 3; i++)
        {
            limiter.RecordFailure(new IPAddress(BitConverter.GetBytes(i + 1)));
        }
        limiter.RecordFailure(A);
        limiter.RecordFailure(A);
        Assert.True(limiter.IsBlocked(A));
    }
}
