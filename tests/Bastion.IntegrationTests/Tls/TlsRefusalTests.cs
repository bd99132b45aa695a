using Bastion.IntegrationTests.Cli;
using Bastion.IntegrationTests.Infrastructure;
using Bastion.Pki;
using Xunit.Abstractions;

namespace Bastion.IntegrationTests.Tls;

/// <summary>
/// Every peer the endpoint must refuse, one test each, against a running bastiond: the refusal happens inside the handshake,
/// nothing reaches the backend, and the reason is in the daemon's log.
/// </summary>
public sealed class TlsRefusalTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    private async Task<(BastiondProcess Daemon, int Port, EchoBackend Backend)> StartAsync(TestPki pki, IssueResult? certificate = null)
    {
        var backend = EchoBackend.Tcp();
        var (daemon, port) = await TlsDaemon.StartListeningAsync(output, TlsConfig.Endpoint(pki, backend.Address, certificate: certificate));
        return (daemon, port, backend);
    }

    private static void AssertRefused(CommandResult run, EchoBackend backend)
    {
        Assert.DoesNotContain("ping-through-tls", run.Output, StringComparison.Ordinal);
        Assert.Equal(0, backend.Connections);
    }

    [Fact]
    public async Task A_client_without_a_certificate_is_refused_and_the_reason_logged()
    {
        using var pki = new TestPki();
        var (daemon, port, backend) = await StartAsync(pki);
        await using var _ = daemon;
        await using var __ = backend;

        AssertRefused(await OpenSslClient.RunAsync(port, pki.CaPath), backend);
        var line = await daemon.WaitForLogAsync("tls/vnc: refused");
        Assert.Contains("no client certificate presented", line, StringComparison.Ordinal);
        var status = await daemon.WaitForStatusAsync(s => TlsDaemon.Endpoint(s, "vnc")!.Details.GetValueOrDefault("refused") == "1", "refused 1");
        Assert.Contains("no client certificate presented", TlsDaemon.Endpoint(status, "vnc")!.Details["lastRefusal"], StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_certificate_from_another_CA_is_refused()
    {
        using var pki = new TestPki();
        using var other = new TestPki("other-ca");
        var (daemon, port, backend) = await StartAsync(pki);
        await using var _ = daemon;
        await using var __ = backend;

        AssertRefused(await OpenSslClient.RunAsync(port, pki.CaPath, other.Admin.CertificatePath, other.Admin.KeyPath), backend);
        var line = await daemon.WaitForLogAsync("tls/vnc: refused");
        Assert.Contains($"subject CN=admin serial {other.Admin.Entry.Serial}: not signed by the session CA", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_expired_certificate_is_refused()
    {
        using var pki = new TestPki(time: new FixedTime(DateTimeOffset.UtcNow.AddDays(-20))); // a CA made 20 days ago
        var expired = pki.Client("old", new FixedTime(DateTimeOffset.UtcNow.AddDays(-10)), TimeSpan.FromDays(1));
        var (daemon, port, backend) = await StartAsync(pki);
        await using var _ = daemon;
        await using var __ = backend;

        AssertRefused(await OpenSslClient.RunAsync(port, pki.CaPath, expired.CertificatePath, expired.KeyPath), backend);
        var line = await daemon.WaitForLogAsync("tls/vnc: refused");
        Assert.Contains($"serial {expired.Entry.Serial}: certificate expired on", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_certificate_revoked_while_the_server_runs_is_refused_on_the_next_handshake_without_a_restart()
    {
        using var pki = new TestPki();
        var friend = pki.Client("friend");
        var (daemon, port, backend) = await StartAsync(pki);
        await using var _ = daemon;
        await using var __ = backend;
        await using var connect = await ConnectProcess.ForwardAsync(output, $"127.0.0.1:{port}", friend, pki.CaPath);
        Assert.Equal("before", await connect.RoundTripAsync("before"));

        var revoke = await Bastionctl.RunAsync("pki", "--dir", pki.Dir, "revoke", "friend");
        Assert.True(revoke.ExitCode == 0, revoke.ToString());
        Assert.Contains($"revoked client certificate 'friend' serial {friend.Entry.Serial}", revoke.Stdout, StringComparison.Ordinal);

        Assert.Equal("", await connect.RoundTripAsync("after")); // the next handshake: refused, nothing relayed
        var line = await daemon.WaitForLogAsync("tls/vnc: refused");
        Assert.Contains($"subject CN=friend serial {friend.Entry.Serial}: certificate revoked", line, StringComparison.Ordinal);
        await using var admin = await ConnectProcess.ForwardAsync(output, $"127.0.0.1:{port}", pki.Admin, pki.CaPath);
        Assert.Equal("admin still fine", await admin.RoundTripAsync("admin still fine"));
        Assert.Equal(1, TlsDaemon.Endpoint(daemon.ReadStatus(), "vnc")!.Starts); // no restart
    }

    [Fact]
    public async Task A_missing_revocation_list_fails_closed_with_the_reason_in_log_and_status()
    {
        using var pki = new TestPki();
        var (daemon, port, backend) = await StartAsync(pki);
        await using var _ = daemon;
        await using var __ = backend;
        File.Delete(pki.Ca.CrlPath);

        AssertRefused(await OpenSslClient.RunAsync(port, pki.CaPath, pki.Admin.CertificatePath, pki.Admin.KeyPath), backend);
        var line = await daemon.WaitForLogAsync("tls/vnc: refused");
        Assert.Contains($"revocation list {pki.Ca.CrlPath} unusable (missing or unreadable); refusing every peer", line, StringComparison.Ordinal);
        await daemon.WaitForComponentAsync("vnc", "Degraded");

        var crl = await Bastionctl.RunAsync("pki", "--dir", pki.Dir, "crl");
        Assert.True(crl.ExitCode == 0, crl.ToString());
        await using var connect = await ConnectProcess.ForwardAsync(output, $"127.0.0.1:{port}", pki.Admin, pki.CaPath);
        Assert.Equal("back", await connect.RoundTripAsync("back"));
    }

    [Fact]
    public async Task A_client_certificate_presented_by_the_server_is_refused_by_bastionctl_connect()
    {
        using var pki = new TestPki();
        var (daemon, port, backend) = await StartAsync(pki, certificate: pki.Client("impostor"));
        await using var _ = daemon;
        await using var __ = backend;
        await using var connect = await ConnectProcess.ForwardAsync(output, $"127.0.0.1:{port}", pki.Admin, pki.CaPath, "--once");

        Assert.Equal("", await connect.RoundTripAsync("hello"));
        Assert.Equal(1, await connect.WaitForExitAsync(Patience));
        Assert.Contains(connect.Log.Lines, l => l.Contains("refused the server at", StringComparison.Ordinal)
            && l.Contains("subject CN=impostor", StringComparison.Ordinal)
            && l.Contains("a client certificate presented as server", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_server_certificate_presented_by_a_client_is_refused()
    {
        using var pki = new TestPki();
        var (daemon, port, backend) = await StartAsync(pki);
        await using var _ = daemon;
        await using var __ = backend;

        AssertRefused(await OpenSslClient.RunAsync(port, pki.CaPath, pki.Server.CertificatePath, pki.Server.KeyPath), backend);
        var line = await daemon.WaitForLogAsync("tls/vnc: refused");
        Assert.Contains("subject CN=srv", line, StringComparison.Ordinal);
        Assert.Contains("a server certificate presented as client", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_TLS_1_1_client_is_refused()
    {
        using var pki = new TestPki();
        var (daemon, port, backend) = await StartAsync(pki);
        await using var _ = daemon;
        await using var __ = backend;

        var run = await OpenSslClient.RunAsync(port, pki.CaPath, pki.Admin.CertificatePath, pki.Admin.KeyPath, "-tls1_1");
        Assert.NotEqual(0, run.ExitCode);
        AssertRefused(run, backend);
        Assert.Contains("Cipher is (NONE)", run.Output, StringComparison.Ordinal); // no session was established
        var line = await daemon.WaitForLogAsync("tls/vnc: refused");
        Assert.Contains("unsupported protocol", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_client_offering_only_CBC_suites_is_refused()
    {
        using var pki = new TestPki();
        var (daemon, port, backend) = await StartAsync(pki);
        await using var _ = daemon;
        await using var __ = backend;

        var run = await OpenSslClient.RunAsync(port, pki.CaPath, pki.Admin.CertificatePath, pki.Admin.KeyPath,
            "-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA:ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES256-SHA384:AES128-SHA:AES256-SHA");
        Assert.NotEqual(0, run.ExitCode);
        AssertRefused(run, backend);
        var line = await daemon.WaitForLogAsync("tls/vnc: refused");
        Assert.Contains("no shared cipher", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_client_offering_only_RC4_suites_is_refused()
    {
        using var pki = new TestPki();
        var (daemon, port, backend) = await StartAsync(pki);
        await using var _ = daemon;
        await using var __ = backend;

        // openssl 3 cannot offer RC4 any more, so the ClientHello is built by hand; the same hello with an AEAD suite is
        // the control that proves the hello itself is good.
        Assert.False(await RawClientHello.ServerAcceptsAsync(port, RawClientHello.EcdheEcdsaRc4Sha, RawClientHello.EcdheRsaRc4Sha, RawClientHello.RsaRc4Sha, RawClientHello.RsaRc4Md5));
        var line = await daemon.WaitForLogAsync("tls/vnc: refused");
        Assert.Contains("no shared cipher", line, StringComparison.Ordinal);
        Assert.True(await RawClientHello.ServerAcceptsAsync(port, RawClientHello.EcdheEcdsaAes128GcmSha256));
        Assert.Equal(0, backend.Connections);
    }

    [Fact]
    public async Task Refused_certificates_past_the_limit_mark_the_address_yet_a_valid_certificate_from_it_still_gets_in()
    {
        using var pki = new TestPki();
        using var other = new TestPki("other-ca");
        await using var backend = EchoBackend.Tcp();
        var (daemon, port) = await TlsDaemon.StartListeningAsync(output,
            TlsConfig.Endpoint(pki, backend.Address).Replace("    key:", "    maxFailedHandshakesPerMinute: 2\n    key:", StringComparison.Ordinal));
        await using var _ = daemon;

        AssertRefused(await OpenSslClient.RunAsync(port, pki.CaPath, other.Admin.CertificatePath, other.Admin.KeyPath), backend);
        AssertRefused(await OpenSslClient.RunAsync(port, pki.CaPath, other.Admin.CertificatePath, other.Admin.KeyPath), backend);
        await daemon.WaitForLogAsync("127.0.0.1 presented 2 refused certificates in a minute");

        // The address is shared (NAT, a tunnel, the onion service): the admin's valid certificate is never refused for it.
        var run = await OpenSslClient.EchoAsync(port, pki.CaPath, pki.Admin.CertificatePath, pki.Admin.KeyPath);
        Assert.Contains("ping-through-tls", run.Output, StringComparison.Ordinal);
        var status = await daemon.WaitForStatusAsync(s => TlsDaemon.Endpoint(s, "vnc")!.Details.GetValueOrDefault("accepted") == "1", "accepted 1");
        Assert.Equal("2", TlsDaemon.Endpoint(status, "vnc")!.Details["refused"]);
    }
}
