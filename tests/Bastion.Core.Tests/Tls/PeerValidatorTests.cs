using System.Net;
using System.Security.Cryptography.X509Certificates;
using Bastion.Config;
using Bastion.Pki;
using Bastion.Tls;
using Microsoft.Extensions.Time.Testing;

namespace Bastion.Tests.Tls;

public sealed class PeerValidatorTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("bastion-validator-").FullName;
    private readonly FakeTimeProvider _time = new(DateTimeOffset.UtcNow);
    private readonly CertificateAuthority _ca;
    private readonly X509Certificate2 _caCert;

    public PeerValidatorTests()
    {
        _ca = CertificateAuthority.Init(Path.Combine(_dir, "pki"), new PkiConfig(), _time, "Unit CA");
        _caCert = _ca.LoadCaCertificate();
    }

    private PeerValidator Validator(CertificateRole role = CertificateRole.Client, params string[] pins) =>
        new(role, pins, new RevocationList(_ca.CrlPath), _time);

    private static X509Certificate2 Load(IssueResult issued) => X509Certificate2.CreateFromPem(File.ReadAllText(issued.CertificatePath));

    [Fact]
    public void A_client_certificate_of_the_session_CA_is_accepted_with_subject_and_serial()
    {
        var admin = _ca.Issue(CertificateRole.Client, "admin", [], []);
        var verdict = Validator().Validate(Load(admin), _caCert);
        Assert.True(verdict.Accepted, verdict.Reason);
        Assert.Equal("CN=admin", verdict.Subject);
        Assert.Equal(admin.Entry.Serial, verdict.Serial);
    }

    [Fact]
    public void No_certificate_is_refused()
    {
        Assert.Equal("no client certificate presented", Validator().Validate(null, _caCert).Reason);
        Assert.Equal("no server certificate presented", Validator(CertificateRole.Server).Validate(null, _caCert).Reason);
    }

    [Fact]
    public void Roles_cannot_stand_in_for_each_other()
    {
        var server = _ca.Issue(CertificateRole.Server, "srv", [], [IPAddress.Loopback]);
        var client = _ca.Issue(CertificateRole.Client, "admin", [], []);
        Assert.StartsWith("a server certificate presented as client", Validator().Validate(Load(server), _caCert).Reason, StringComparison.Ordinal);
        Assert.StartsWith("a client certificate presented as server", Validator(CertificateRole.Server).Validate(Load(client), _caCert).Reason, StringComparison.Ordinal);
        Assert.True(Validator(CertificateRole.Server).Validate(Load(server), _caCert).Accepted);
    }

    [Fact]
    public void The_CA_certificate_itself_is_no_client_certificate()
    {
        Assert.False(Validator().Validate(_caCert, _caCert).Accepted);
    }

    [Fact]
    public void Another_CAs_certificate_is_refused()
    {
        var other = CertificateAuthority.Init(Path.Combine(_dir, "other"), new PkiConfig(), _time, "Other CA");
        var stranger = other.Issue(CertificateRole.Client, "admin", [], []);
        Assert.Equal("not signed by the session CA (issuer: CN=Other CA)", Validator().Validate(Load(stranger), _caCert).Reason);
    }

    [Fact]
    public void Expiry_is_judged_by_the_clock_and_reported_with_the_date()
    {
        var admin = _ca.Issue(CertificateRole.Client, "admin", [], [], TimeSpan.FromDays(1));
        Assert.True(Validator().Validate(Load(admin), _caCert).Accepted);
        _time.Advance(TimeSpan.FromDays(2));
        Assert.StartsWith($"certificate expired on {PkiIndex.Time(admin.Entry.NotAfter)}", Validator().Validate(Load(admin), _caCert).Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void A_revocation_is_seen_by_a_validator_that_already_loaded_the_list()
    {
        var admin = _ca.Issue(CertificateRole.Client, "admin", [], []);
        var validator = Validator();
        Assert.True(validator.Validate(Load(admin), _caCert).Accepted);
        _ca.Revoke("admin");
        Assert.Equal("certificate revoked", validator.Validate(Load(admin), _caCert).Reason);
    }

    [Fact]
    public void A_missing_or_forged_revocation_list_fails_closed()
    {
        var admin = _ca.Issue(CertificateRole.Client, "admin", [], []);
        var validator = Validator();
        File.Delete(_ca.CrlPath);
        Assert.Contains("unusable (missing or unreadable)", validator.Validate(Load(admin), _caCert).Reason, StringComparison.Ordinal);

        // A CRL signed by another CA (that revokes nothing) must not be taken for ours.
        var other = CertificateAuthority.Init(Path.Combine(_dir, "other"), new PkiConfig(), _time, "Unit CA");
        File.Copy(other.CrlPath, _ca.CrlPath);
        Assert.Contains("signature does not verify", validator.Validate(Load(admin), _caCert).Reason, StringComparison.Ordinal);

        File.WriteAllText(_ca.CrlPath, "garbage");
        Assert.Contains("unusable", validator.Validate(Load(admin), _caCert).Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Pins_when_set_must_match_the_peers_key()
    {
        var admin = _ca.Issue(CertificateRole.Client, "admin", [], []);
        var friend = _ca.Issue(CertificateRole.Client, "friend", [], []);
        var validator = Validator(CertificateRole.Client, admin.Entry.Pin);
        Assert.True(validator.Validate(Load(admin), _caCert).Accepted);
        Assert.StartsWith("public key not in the endpoint's pins", validator.Validate(Load(friend), _caCert).Reason, StringComparison.Ordinal);
    }

    public void Dispose()
    {
        _caCert.Dispose();
        Directory.Delete(_dir, recursive: true);
    }
}
