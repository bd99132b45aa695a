using System.Net.Sockets;
using System.Text;
using Bastion.Config;
using Bastion.IntegrationTests.Cli;
using Bastion.IntegrationTests.Infrastructure;
using Bastion.Pki;
using Xunit.Abstractions;

namespace Bastion.IntegrationTests.Tls;

/// <summary>Certificate renewal and reload on a running endpoint, and what status says about its certificate.</summary>
public sealed class TlsReloadTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task A_renewed_server_certificate_is_used_after_SIGHUP_without_dropping_an_established_connection()
    {
        using var pki = new TestPki();
        await using var backend = EchoBackend.Tcp();
        var (daemon, port) = await TlsDaemon.StartListeningAsync(output, TlsConfig.Endpoint(pki, backend.Address));
        await using var _ = daemon;
        await using var connect = await ConnectProcess.ForwardAsync(output, $"127.0.0.1:{port}", pki.Admin, pki.CaPath);
        using var cts = new CancellationTokenSource(Patience);
        using var established = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await established.ConnectAsync("127.0.0.1", connect.LocalPort, cts.Token);
        Assert.Equal("one", await EchoAsync(established, "one", cts.Token));

        var renew = await Bastionctl.RunAsync("pki", "--dir", pki.Dir, "renew", "srv");
        Assert.True(renew.ExitCode == 0, renew.ToString());
        var renewed = pki.Ca.List().Last(e => e.Name == "srv");
        Assert.NotEqual(pki.Server.Entry.Serial, renewed.Serial);
        var reload = await Bastionctl.RunAsync("--config", daemon.ConfigPath, "reload");
        Assert.True(reload.ExitCode == 0, reload.ToString());

        Assert.Equal("two", await EchoAsync(established, "two", cts.Token)); // still the same TLS session
        await using var fresh = await ConnectProcess.ForwardAsync(output, $"127.0.0.1:{port}", pki.Admin, pki.CaPath);
        Assert.Equal("fresh", await fresh.RoundTripAsync("fresh"));
        await fresh.Log.WaitForLineAsync(l => l.Contains($"server CN=srv serial {renewed.Serial}", StringComparison.Ordinal), Patience, "renewed certificate presented");
        await daemon.WaitForLogAsync($"loaded certificate CN=srv serial {renewed.Serial}");
        Assert.Equal(1, TlsDaemon.Endpoint(daemon.ReadStatus(), "vnc")!.Starts);
        Assert.Equal("three", await EchoAsync(established, "three", cts.Token));
    }

    [Fact]
    public async Task A_broken_new_certificate_file_keeps_the_previous_certificate_and_says_why()
    {
        using var pki = new TestPki();
        await using var backend = EchoBackend.Tcp();
        var (daemon, port) = await TlsDaemon.StartListeningAsync(output, TlsConfig.Endpoint(pki, backend.Address));
        await using var _ = daemon;

        File.WriteAllText(pki.Server.CertificatePath, "-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n");
        await using var connect = await ConnectProcess.ForwardAsync(output, $"127.0.0.1:{port}", pki.Admin, pki.CaPath);
        Assert.Equal("still up", await connect.RoundTripAsync("still up"));
        var degraded = await daemon.WaitForComponentAsync("vnc", "Degraded");
        Assert.StartsWith($"new certificate files not used, keeping the previous certificate: cannot load the certificate {pki.Server.CertificatePath}", degraded.Reason, StringComparison.Ordinal);
        await daemon.WaitForLogAsync("new certificate files not used, keeping the previous certificate");
    }

    [Fact]
    public async Task A_server_certificate_within_renewBefore_of_expiry_shows_as_Degraded_with_a_warning()
    {
        using var pki = new TestPki();
        var shortLived = pki.Ca.Issue(CertificateRole.Server, "short", [], [System.Net.IPAddress.Loopback], TimeSpan.FromDays(1));
        await using var backend = EchoBackend.Tcp();
        await using var daemon = new BastiondProcess(output, TlsConfig.Endpoint(pki, backend.Address, certificate: shortLived));
        await daemon.StartAndWaitReadyAsync();

        var endpoint = await daemon.WaitForComponentAsync("vnc", "Degraded");
        Assert.Contains($"certificate {shortLived.CertificatePath} expires on {PkiIndex.Time(shortLived.Entry.NotAfter)} (within renewBefore 3d) — renew with: bastionctl pki renew", endpoint.Reason, StringComparison.Ordinal);
        Assert.Equal(PkiIndex.Time(shortLived.Entry.NotAfter), endpoint.Details["notAfter"]);
        Assert.DoesNotContain(endpoint.Details.Values, v => v.Contains("PRIVATE KEY", StringComparison.Ordinal));
        await daemon.WaitForLogAsync("(within renewBefore 3d)");
    }

    private static async Task<string> EchoAsync(Socket socket, string text, CancellationToken cancellationToken)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        await socket.SendAsync(bytes, SocketFlags.None, cancellationToken);
        var buffer = new byte[bytes.Length];
        var got = 0;
        while (got < buffer.Length)
        {
            var n = await socket.ReceiveAsync(buffer.AsMemory(got), SocketFlags.None, cancellationToken);
            if (n == 0)
            {
                throw new IOException($"connection closed after {got} of {buffer.Length} bytes");
            }
            got += n;
        }
        return Encoding.UTF8.GetString(buffer);
    }
}
