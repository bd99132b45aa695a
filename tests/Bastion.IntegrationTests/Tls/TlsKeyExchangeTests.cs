using Xunit.Abstractions;

namespace Bastion.IntegrationTests.Tls;

/// <summary>TLS 1.3 key exchange: X25519, P-256 and P-384 only — judged by openssl s_client offering one group at a time.</summary>
public sealed class TlsKeyExchangeTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Only_X25519_P256_and_P384_are_accepted_for_key_exchange_finite_field_DH_X448_and_P521_are_refused()
    {
        using var pki = new TestPki();
        await using var backend = EchoBackend.Tcp();
        var (daemon, port) = await TlsDaemon.StartListeningAsync(output, TlsConfig.Endpoint(pki, backend.Address));
        await using var _ = daemon;

        foreach (var (group, shown) in new[] { ("X25519", "X25519"), ("P-256", "prime256v1"), ("P-384", "secp384r1") })
        {
            var run = await OpenSslClient.RunAsync(port, pki.CaPath, pki.Admin.CertificatePath, pki.Admin.KeyPath, "-tls1_3", "-groups", group);
            Assert.True(run.Output.Contains("Server Temp Key: " + shown, StringComparison.Ordinal) || run.Output.Contains("Server Temp Key: ECDH, " + shown, StringComparison.Ordinal), run.Output);
        }
        foreach (var group in new[] { "ffdhe2048", "ffdhe3072", "ffdhe4096", "ffdhe8192", "X448", "P-521" })
        {
            foreach (var version in new[] { "-tls1_3", "-tls1_2" })
            {
                var run = await OpenSslClient.RunAsync(port, pki.CaPath, pki.Admin.CertificatePath, pki.Admin.KeyPath, version, "-groups", group);
                Assert.NotEqual(0, run.ExitCode);
                Assert.Contains("Cipher is (NONE)", run.Output, StringComparison.Ordinal); // no session was established
                Assert.DoesNotContain("Server Temp Key", run.Output, StringComparison.Ordinal);
            }
        }
        Assert.Equal(3, backend.Connections); // the three good groups only
    }
}
