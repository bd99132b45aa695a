using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Bastion.Config;
using Bastion.Pki;
using Bastion.Tls;
using Microsoft.Extensions.Time.Testing;

namespace Bastion.Tests.Tls;

public sealed class CrlReaderTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("bastion-crl-").FullName;

    [Theory]
    [InlineData(PkiAlgorithm.EcdsaP256)]
    [InlineData(PkiAlgorithm.EcdsaP384)]
    public void Reads_the_revoked_serials_of_a_CRL_the_CA_signed(PkiAlgorithm algorithm)
    {
        var ca = CertificateAuthority.Init(Path.Combine(_dir, algorithm.ToString()), new PkiConfig { Algorithm = algorithm }, new FakeTimeProvider(DateTimeOffset.UtcNow), "CRL CA");
        var a = ca.Issue(CertificateRole.Client, "a", [], []);
        ca.Issue(CertificateRole.Client, "b", [], []);
        using var caCert = ca.LoadCaCertificate();
        Assert.Empty(CrlReader.ReadRevokedSerials(File.ReadAllBytes(ca.CrlPath), caCert));
        ca.Revoke("a");
        Assert.Equal([a.Entry.Serial], CrlReader.ReadRevokedSerials(File.ReadAllBytes(ca.CrlPath), caCert));
    }

    [Fact]
    public void Refuses_a_CRL_whose_signature_was_tampered_with()
    {
        var ca = CertificateAuthority.Init(Path.Combine(_dir, "t"), new PkiConfig(), new FakeTimeProvider(DateTimeOffset.UtcNow), "CRL CA");
        ca.Issue(CertificateRole.Client, "a", [], []);
        ca.Revoke("a");
        using var caCert = ca.LoadCaCertificate();
        var pem = File.ReadAllText(ca.CrlPath);
        var der = Convert.FromBase64String(pem[(pem.IndexOf('\n', StringComparison.Ordinal) + 1)..pem.IndexOf("-----END", StringComparison.Ordinal)].Replace("\n", "", StringComparison.Ordinal));
        der[^5] ^= 0x01; // inside the signature
        Assert.ThrowsAny<CryptographicException>(() => CrlReader.ReadRevokedSerials(der, caCert));
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
