using System.Net;
using Bastion.Tls;
using Microsoft.Extensions.Time.Testing;

namespace Bastion.Tests.Tls;

public sealed class RefusalDigestTests
{
    private readonly FakeTimeProvider _time = new();
    private static readonly IPAddress A = IPAddress.Parse("192.0.2.1");
    private static readonly IPAddress B = IPAddress.Parse("192.0.2.2");

    [Fact]
    public void A_flood_from_one_address_is_a_few_lines_then_one_summary_per_interval_with_the_count()
    {
        var digest = new RefusalDigest(TimeSpan.FromSeconds(30), 100, _time);
        var logged = Enumerable.Range(0, 2500).Count(i => digest.Record(A, "reason " + i));
        Assert.Equal(RefusalDigest.Detailed, logged);
        Assert.True(digest.Record(B, "other")); // another address has its own lines
        Assert.Empty(digest.Flush()); // the interval has not ended

        _time.Advance(TimeSpan.FromSeconds(30));
        var summary = Assert.Single(digest.Flush());
        Assert.Equal(A, summary.Address);
        Assert.Equal(2500 - RefusalDigest.Detailed, summary.Count);
        Assert.Equal("reason 2499", summary.LastReason);
        Assert.Empty(digest.Flush());
        Assert.True(digest.Record(A, "again")); // a new interval starts with a detailed line
    }

    [Fact]
    public void Past_its_capacity_refusals_from_new_addresses_are_counted_together()
    {
        var digest = new RefusalDigest(TimeSpan.FromSeconds(30), 10, _time);
        for (var i = 0; i < 1000; i++)
        {
            digest.Record(new IPAddress(BitConverter.GetBytes(0x0A000000 + i)), "scan");
        }
        _time.Advance(TimeSpan.FromSeconds(31));
        var other = Assert.Single(digest.Flush(), s => s.Address.Equals(IPAddress.None));
        Assert.Equal(990, other.Count);
    }
}
