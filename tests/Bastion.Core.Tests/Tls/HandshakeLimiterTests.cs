using System.Net;
using Bastion.Tls;
using Microsoft.Extensions.Time.Testing;

namespace Bastion.Tests.Tls;

public sealed class HandshakeLimiterTests
{
    private readonly FakeTimeProvider _time = new();
    private static readonly IPAddress A = IPAddress.Parse("192.0.2.1");
    private static readonly IPAddress B = IPAddress.Parse("192.0.2.2");

    private HandshakeLimiter Limiter(int maxPending = 8, int perAddress = 4, int failures = 3, int tracked = 4096) =>
        new(new HandshakeLimits(maxPending, perAddress, failures, tracked), _time);

    [Fact]
    public void Only_refused_certificates_make_an_address_suspect_and_the_mark_ages_out()
    {
        var limiter = Limiter(failures: 3);
        for (var i = 0; i < 50; i++)
        {
            Assert.False(limiter.RecordFailure(A, HandshakeFailure.Silent));
            Assert.False(limiter.RecordFailure(A, HandshakeFailure.Protocol));
            Assert.False(limiter.RecordFailure(A, HandshakeFailure.PasswordLimit));
        }
        Assert.False(limiter.IsSuspect(A)); // timeouts, idle sockets and scanners are not evidence

        Assert.False(limiter.RecordFailure(A, HandshakeFailure.Certificate));
        Assert.False(limiter.RecordFailure(A, HandshakeFailure.Certificate));
        Assert.True(limiter.RecordFailure(A, HandshakeFailure.Certificate)); // reached: log once
        Assert.False(limiter.RecordFailure(A, HandshakeFailure.Certificate)); // not again while it stays over
        Assert.True(limiter.IsSuspect(A));
        Assert.False(limiter.IsSuspect(B));
        _time.Advance(TimeSpan.FromSeconds(61));
        Assert.False(limiter.IsSuspect(A));
        limiter.RecordFailure(A, HandshakeFailure.Certificate);
        limiter.RecordFailure(A, HandshakeFailure.Certificate);
        Assert.True(limiter.RecordFailure(A, HandshakeFailure.Certificate)); // a new run over the limit is logged again
    }

    [Fact]
    public void An_IPv4_mapped_IPv6_address_counts_as_its_IPv4_address()
    {
        var limiter = Limiter(failures: 1);
        limiter.RecordFailure(A.MapToIPv6(), HandshakeFailure.Certificate);
        Assert.True(limiter.IsSuspect(A));
    }

    [Fact]
    public void A_flood_of_new_addresses_forgets_the_least_recently_seen_one_at_a_time_instead_of_wiping_every_mark()
    {
        var limiter = Limiter(failures: 2, tracked: 100);
        limiter.RecordFailure(A, HandshakeFailure.Certificate);
        limiter.RecordFailure(A, HandshakeFailure.Certificate);
        for (var i = 0; i < 1000; i++)
        {
            var rotating = new IPAddress(BitConverter.GetBytes(0x0A000000 + i));
            limiter.RecordFailure(rotating, HandshakeFailure.Certificate);
            if (i % 50 == 0)
            {
                limiter.RecordFailure(A, HandshakeFailure.Certificate); // A keeps misbehaving: it stays recent
            }
        }
        Assert.True(limiter.IsSuspect(A));
        Assert.Equal(100, limiter.TrackedAddresses);
    }

    [Fact]
    public void A_flood_of_idle_sockets_never_keeps_a_new_connection_out_the_oldest_silent_one_gives_way()
    {
        var limiter = Limiter(maxPending: 8, perAddress: 4);
        var idle = Enumerable.Range(0, 4).Select(i => limiter.Admit(A, out _)!).ToList();
        Assert.Equal(4, limiter.Pending);

        var admin = limiter.Admit(A, out var evicted);
        Assert.NotNull(admin);
        Assert.Same(idle[0], evicted);
        Assert.True(idle[0].WasEvicted);
        Assert.True(idle[0].Evicted.IsCancellationRequested);
        Assert.Equal(4, limiter.Pending);

        // The admin sends its ClientHello; more idle sockets keep arriving: only silent ones give way.
        admin!.Talking();
        for (var i = 0; i < 100; i++)
        {
            var next = limiter.Admit(A, out var gone);
            Assert.NotNull(next);
            Assert.NotSame(admin, gone);
            Assert.Equal(HandshakeStage.Silent, gone!.Stage);
        }
        Assert.False(admin.WasEvicted);
    }

    [Fact]
    public void A_handshake_that_presented_a_certificate_is_never_evicted_and_only_then_a_new_connection_is_refused()
    {
        var limiter = Limiter(maxPending: 8, perAddress: 2);
        var first = limiter.Admit(A, out _)!;
        var second = limiter.Admit(A, out _)!;
        first.CertificatePresented();
        second.Talking();

        var third = limiter.Admit(A, out var evicted);
        Assert.NotNull(third);
        Assert.Same(second, evicted); // talking without a certificate gives way; the certified one stays

        third!.CertificatePresented();
        Assert.Null(limiter.Admit(A, out evicted)); // both places hold certificates being checked: milliseconds
        Assert.Null(evicted);
        Assert.False(first.WasEvicted);

        first.Dispose();
        Assert.NotNull(limiter.Admit(A, out _));
    }

    [Fact]
    public void The_global_budget_evicts_across_addresses_silent_first_then_suspect_addresses()
    {
        var limiter = Limiter(maxPending: 3, perAddress: 3, failures: 1);
        limiter.RecordFailure(B, HandshakeFailure.Certificate); // B presented a bad certificate: suspect
        var a1 = limiter.Admit(A, out _)!;
        var b1 = limiter.Admit(B, out _)!;
        var a2 = limiter.Admit(A, out _)!;
        a1.Talking();
        b1.Talking();

        limiter.Admit(IPAddress.Loopback, out var evicted)!.Talking();
        Assert.Same(a2, evicted); // the only silent one, although younger

        limiter.Admit(IPAddress.Loopback, out evicted);
        Assert.Same(b1, evicted); // then the suspect address's, although a1 is older
        Assert.False(a1.WasEvicted);
    }

    [Fact]
    public void Released_handshakes_free_their_place_once_even_if_disposed_twice()
    {
        var limiter = Limiter(maxPending: 2, perAddress: 2);
        var h = limiter.Admit(A, out _)!;
        h.Dispose();
        h.Dispose();
        Assert.Equal(0, limiter.Pending);
        Assert.NotNull(limiter.Admit(A, out var evicted));
        Assert.NotNull(limiter.Admit(A, out evicted));
        Assert.Null(evicted);
    }

    [Fact]
    public void Wrong_VNC_passwords_block_the_certificate_that_sent_them_not_the_address_or_another_certificate()
    {
        var limiter = Limiter(failures: 2);
        Assert.False(limiter.RecordPasswordFailure("01AB"));
        Assert.True(limiter.RecordPasswordFailure("01AB"));
        Assert.True(limiter.IsCertificateBlocked("01AB"));
        Assert.False(limiter.IsCertificateBlocked("02CD"));
        Assert.False(limiter.IsSuspect(A));
        _time.Advance(TimeSpan.FromSeconds(61));
        Assert.False(limiter.IsCertificateBlocked("01AB"));
    }
}
