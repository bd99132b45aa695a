using System.Text.Json;
using Bastion.IntegrationTests.Infrastructure;
using Xunit.Abstractions;

namespace Bastion.IntegrationTests.Tls;

/// <summary>
/// Outside judges on a running endpoint: sslscan (with a client certificate) and testssl (-p -f -E -S, JSON parsed) must see
/// only TLS 1.2 and 1.3, only AEAD suites, and forward secrecy everywhere. The handshake limit is raised: both tools make
/// hundreds of handshakes that the endpoint refuses (testssl has no client certificate).
/// </summary>
public sealed class TlsAuditTests(ITestOutputHelper output)
{
    private const string NoLimit = "    maxFailedHandshakesPerMinute: 1000000\n    key:";

    private async Task<(BastiondProcess Daemon, int Port, EchoBackend Backend)> StartAsync(TestPki pki)
    {
        var backend = EchoBackend.Tcp();
        var config = TlsConfig.Endpoint(pki, backend.Address).Replace("    key:", NoLimit, StringComparison.Ordinal);
        var (daemon, port) = await TlsDaemon.StartListeningAsync(output, config);
        return (daemon, port, backend);
    }

    [Fact]
    public async Task Sslscan_sees_only_TLS_1_2_and_1_3_with_ECDHE_AEAD_suites()
    {
        using var pki = new TestPki();
        var (daemon, port, backend) = await StartAsync(pki);
        await using var _ = daemon;
        await using var __ = backend;

        var run = await ExternalCommand.RunAsync("sslscan",
            ["--no-colour", $"--certs={pki.Admin.CertificatePath}", $"--pk={pki.Admin.KeyPath}", $"127.0.0.1:{port}"], TimeSpan.FromSeconds(60));
        output.WriteLine(run.Describe());
        Assert.Equal(0, run.ExitCode);
        var lines = run.StdOut.Split('\n').Select(l => l.Trim()).ToList();
        foreach (var protocol in new[] { "SSLv2", "SSLv3", "TLSv1.0", "TLSv1.1" })
        {
            Assert.Contains(lines, l => l.StartsWith(protocol, StringComparison.Ordinal) && l.EndsWith("disabled", StringComparison.Ordinal));
        }
        Assert.Contains(lines, l => l.StartsWith("TLSv1.2", StringComparison.Ordinal) && l.EndsWith("enabled", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("TLSv1.3", StringComparison.Ordinal) && l.EndsWith("enabled", StringComparison.Ordinal));

        var suites = lines.Where(l => l.StartsWith("Accepted", StringComparison.Ordinal) || l.StartsWith("Preferred", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(suites);
        Assert.Contains(suites, l => l.Contains("TLSv1.2", StringComparison.Ordinal));
        foreach (var suite in suites)
        {
            var name = suite.Split(' ', StringSplitOptions.RemoveEmptyEntries)[4];
            Assert.True(name.Contains("GCM", StringComparison.Ordinal) || name.Contains("CHACHA20-POLY1305", StringComparison.Ordinal) || name.Contains("CHACHA20_POLY1305", StringComparison.Ordinal), $"not AEAD: {suite}");
            Assert.True(suite.Contains("TLSv1.3", StringComparison.Ordinal) || name.StartsWith("ECDHE-", StringComparison.Ordinal), $"no forward secrecy: {suite}");
        }
    }

    [Fact]
    public async Task Testssl_reports_only_TLS_1_2_and_1_3_only_AEAD_suites_and_forward_secrecy()
    {
        using var pki = new TestPki();
        var (daemon, port, backend) = await StartAsync(pki);
        await using var _ = daemon;
        await using var __ = backend;
        var json = pki.Scratch("testssl.json");

        var run = await ExternalCommand.RunAsync("testssl",
            ["--quiet", "--color", "0", "-n", "none", "--warnings", "off", "--add-ca", pki.CaPath, "-p", "-f", "-E", "-S", "--jsonfile-pretty", json, $"127.0.0.1:{port}"],
            TimeSpan.FromMinutes(3));
        output.WriteLine(run.Describe());
        Assert.False(run.TimedOut);
        using var doc = JsonDocument.Parse(File.ReadAllText(json));
        var scan = doc.RootElement.GetProperty("scanResult")[0];
        string Finding(string section, string id) =>
            scan.GetProperty(section).EnumerateArray().Single(e => e.GetProperty("id").GetString() == id).GetProperty("finding").GetString()!;

        foreach (var old in new[] { "SSLv2", "SSLv3", "TLS1", "TLS1_1" })
        {
            Assert.Equal("not offered", Finding("protocols", old));
        }
        Assert.StartsWith("offered", Finding("protocols", "TLS1_2"), StringComparison.Ordinal);
        Assert.StartsWith("offered", Finding("protocols", "TLS1_3"), StringComparison.Ordinal);
        Assert.Equal("offered", Finding("pfs", "PFS"));

        var ciphers = scan.GetProperty("cipherTests").EnumerateArray().Select(e => e.GetProperty("finding").GetString()!).ToList();
        Assert.NotEmpty(ciphers);
        foreach (var cipher in ciphers)
        {
            // "TLS 1.2   xc02b   ECDHE-ECDSA-AES128-GCM-SHA256     ECDH 253   AESGCM      128  ..."
            var columns = cipher.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            Assert.True(columns[1] is "1.2" or "1.3", $"protocol: {cipher}");
            Assert.True(columns[4] == "ECDH", $"no ECDHE: {cipher}");
            Assert.True(columns[6] is "AESGCM" or "ChaCha20", $"not AEAD: {cipher}");
        }
    }
}
