using System.Net;
using Bastion.Tls;
using Microsoft.Extensions.Time.Testing;

namespace Bastion.Tests.Tls;

public sealed class HandshakeLimiterTests
{
    private readonly FakeTimeProvider _time = new();
    private static readonly IPAddress A = IPAddress.Parse("192.0.2.1");
    private static readonly IPAddress B = IPAddress.Parse("192.0.2.2");

    private HandshakeLimiter Limiter(int silent = 8, int silentPerAddress = 4, int maxPending = 8, int perAddress = 4, int failures = 3, int tracked = 4096) =>
        new(new HandshakeLimits(silent, silentPerAddress, maxPending, perAddress, failures, tracked), _time);

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
        var limiter = Limiter(silent: 8, silentPerAddress: 4);
        var idle = Enumerable.Range(0, 4).Select(i => limiter.Admit(A, out _)!).ToList();
        Assert.Equal(4, limiter.Pending);

        var admin = limiter.Admit(A, out var evicted);
        Assert.NotNull(admin);
        Assert.Same(idle[0], evicted);
        Assert.True(idle[0].WasEvicted);
        Assert.True(idle[0].Evicted.IsCancellationRequested);
        Assert.Equal(4, limiter.Pending);

        // The admin sends its ClientHello (it leaves the silent budget); idle sockets keep arriving: only silent ones give way.
        Assert.True(admin!.Talking());
        for (var i = 0; i < 100; i++)
        {
            var next = limiter.Admit(A, out var gone);
            Assert.NotNull(next);
            Assert.NotSame(admin, gone);
            Assert.Equal(HandshakeStage.Silent, gone?.Stage ?? HandshakeStage.Silent);
        }
        Assert.False(admin.WasEvicted);
        Assert.Equal(5, limiter.Pending); // 4 silent + the admin's handshake: bounded
    }

    [Fact]
    public void The_silent_budget_of_all_addresses_is_bounded_too()
    {
        var limiter = Limiter(silent: 3, silentPerAddress: 3);
        var a = limiter.Admit(A, out _)!;
        limiter.Admit(B, out _);
        limiter.Admit(B, out _);
        limiter.Admit(IPAddress.Loopback, out var evicted);
        Assert.Same(a, evicted);
        Assert.Equal(3, limiter.Pending);
    }

    [Fact]
    public void A_handshake_whose_bytes_are_waiting_unread_is_not_taken_for_silence()
    {
        var limiter = Limiter(silent: 8, silentPerAddress: 2);
        var spoke = false;
        var admin = limiter.Admit(A, out _, () => spoke)!; // its task has not run yet on a loaded machine
        var idle = limiter.Admit(A, out _, () => false)!;
        spoke = true; // the ClientHello is in the socket's buffer

        limiter.Admit(A, out var evicted, () => false);
        Assert.Same(idle, evicted);
        Assert.False(admin.WasEvicted);
    }

    [Fact]
    public void A_handshake_that_presented_a_certificate_is_never_evicted_and_only_then_a_talking_connection_is_refused()
    {
        var limiter = Limiter(maxPending: 8, perAddress: 2);
        var first = limiter.Admit(A, out _)!;
        var second = limiter.Admit(A, out _)!;
        Assert.True(first.Talking());
        first.CertificatePresented();
        Assert.True(second.Talking());

        var third = limiter.Admit(A, out var evicted)!;
        Assert.Null(evicted); // the silent budget has room
        Assert.True(third.Talking());
        Assert.True(second.WasEvicted); // talking without a certificate gives way; the certified one stays

        third.CertificatePresented();
        var fourth = limiter.Admit(A, out _)!;
        Assert.False(fourth.Talking()); // both places hold certificates being checked: milliseconds
        Assert.False(first.WasEvicted);

        first.Dispose();
        var fifth = limiter.Admit(A, out _)!;
        Assert.True(fifth.Talking());
    }

    [Fact]
    public void The_global_handshake_budget_evicts_across_addresses_a_suspect_addresss_first()
    {
        var limiter = Limiter(maxPending: 2, perAddress: 2, failures: 1);
        limiter.RecordFailure(B, HandshakeFailure.Certificate); // B presented a bad certificate: suspect
        var a1 = limiter.Admit(A, out _)!;
        var b1 = limiter.Admit(B, out _)!;
        Assert.True(a1.Talking());
        Assert.True(b1.Talking());

        Assert.True(limiter.Admit(IPAddress.Loopback, out _)!.Talking());
        Assert.True(b1.WasEvicted); // the suspect address's, although a1 is older
        Assert.False(a1.WasEvicted);
    }

    [Fact]
    public void Released_handshakes_free_their_place_once_even_if_disposed_twice()
    {
        var limiter = Limiter(silent: 2, silentPerAddress: 2);
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
