using System.Net;
using System.Security.Cryptography.X509Certificates;
using Bastion.Config;
using Bastion.Pki;
using Microsoft.Extensions.Time.Testing;

namespace Bastion.Tests.Pki;

public sealed class CertificateAuthorityTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("bastion-ca-").FullName;
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 1, 12, 0, 0, TimeSpan.Zero));
    private readonly PkiConfig _settings = new();

    private string CaDir => Path.Combine(_dir, "pki");

    private CertificateAuthority NewCa() => CertificateAuthority.Init(CaDir, _settings, _time, "Unit CA");

    [Fact]
    public void Certificates_carry_only_their_roles_EKU_and_chain_to_the_CA()
    {
        var ca = NewCa();
        var server = ca.Issue(CertificateRole.Server, "srv", ["srv.example"], [IPAddress.Loopback]);
        var client = ca.Issue(CertificateRole.Client, "admin", [], []);
        using var serverCert = X509Certificate2.CreateFromPem(File.ReadAllText(server.CertificatePath));
        using var clientCert = X509Certificate2.CreateFromPem(File.ReadAllText(client.CertificatePath));

        Assert.Equal(["1.3.6.1.5.5.7.3.1"], Ekus(serverCert));
        Assert.Equal(["1.3.6.1.5.5.7.3.2"], Ekus(clientCert));
        Assert.Equal("CN=Unit CA", serverCert.Issuer);
        Assert.False(serverCert.Extensions.OfType<X509BasicConstraintsExtension>().Single().CertificateAuthority);
        Assert.Equal(SpkiPin.Of(serverCert), server.Entry.Pin);
        Assert.Equal(serverCert.SerialNumber, server.Entry.Serial);
    }

    [Fact]
    public void Default_lifetimes_are_short_and_days_override_them()
    {
        var ca = NewCa();
        var now = _time.GetUtcNow();
        Assert.Equal(now + TimeSpan.FromDays(30), ca.Issue(CertificateRole.Server, "s", [], [IPAddress.Loopback]).Entry.NotAfter);
        Assert.Equal(now + TimeSpan.FromDays(7), ca.Issue(CertificateRole.Client, "c", [], []).Entry.NotAfter);
        Assert.Equal(now + TimeSpan.FromDays(2), ca.Issue(CertificateRole.Client, "d", [], [], TimeSpan.FromDays(2)).Entry.NotAfter);
    }

    [Fact]
    public void A_certificate_never_outlives_its_CA()
    {
        var ca = NewCa();
        var result = ca.Issue(CertificateRole.Client, "long", [], [], TimeSpan.FromDays(5000));
        Assert.True(result.LifetimeClamped);
        Assert.Equal(_time.GetUtcNow() + _settings.CaLifetime, result.Entry.NotAfter);
    }

    [Fact]
    public void Private_keys_are_0600_and_the_index_records_every_issue()
    {
        var ca = NewCa();
        var issued = ca.Issue(CertificateRole.Client, "admin", [], []);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(issued.KeyPath));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(ca.CaKeyPath));
        var reopened = CertificateAuthority.Open(CaDir, _settings, _time);
        var entry = Assert.Single(reopened.List());
        Assert.Equal((issued.Entry.Serial, issued.Entry.Name, issued.Entry.NotAfter, issued.Entry.Pin), (entry.Serial, entry.Name, entry.NotAfter, entry.Pin));
    }

    [Fact]
    public void Init_refuses_to_replace_an_existing_CA()
    {
        NewCa();
        var e = Assert.Throws<PkiException>(NewCa);
        Assert.Contains("already holds a CA", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Revoking_by_name_revokes_every_certificate_of_that_name_and_by_serial_just_one()
    {
        var ca = NewCa();
        var first = ca.Issue(CertificateRole.Client, "friend", [], []);
        var renewed = ca.Renew("friend").Single();
        var other = ca.Issue(CertificateRole.Client, "other", [], []);
        Assert.Equal(2, ca.Revoke("friend").Count);
        Assert.Single(ca.Revoke(other.Entry.Serial));
        Assert.All(ca.List(), e => Assert.True(e.IsRevoked));
        Assert.NotEqual(first.Entry.Serial, renewed.Entry.Serial);
    }

    [Fact]
    public void Renew_without_a_name_renews_what_is_within_renewBefore()
    {
        var ca = NewCa();
        ca.Issue(CertificateRole.Server, "srv", [], [IPAddress.Loopback]); // 30d
        ca.Issue(CertificateRole.Client, "admin", [], []); // 7d
        Assert.Empty(ca.Renew(null));
        _time.Advance(TimeSpan.FromDays(5)); // admin: 2 days left (< 3d), srv: 25
        var renewed = Assert.Single(ca.Renew(null));
        Assert.Equal("admin", renewed.Entry.Name);
        Assert.Empty(ca.DueForRenewal()); // the renewed admin's predecessor is not due again
    }

    [Fact]
    public void Names_are_checked_before_anything_is_written()
    {
        var ca = NewCa();
        Assert.Throws<PkiException>(() => ca.Issue(CertificateRole.Client, "../evil", [], []));
        Assert.Throws<PkiException>(() => ca.Issue(CertificateRole.Client, "Upper", [], []));
        Assert.Empty(ca.List());
    }

    private static string[] Ekus(X509Certificate2 cert) =>
        cert.Extensions.OfType<X509EnhancedKeyUsageExtension>().Single().EnhancedKeyUsages.Cast<System.Security.Cryptography.Oid>().Select(o => o.Value!).ToArray();

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
