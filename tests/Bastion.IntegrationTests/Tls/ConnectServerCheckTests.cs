using Bastion.IntegrationTests.Cli;
using Bastion.Pki;
using Xunit.Abstractions;

namespace Bastion.IntegrationTests.Tls;

/// <summary>
/// <c>bastionctl connect</c> checks the server the way stunnel's checkHost/checkIP does: the certificate must name the host
/// dialled (or --server-name); the CA's CRL next to --ca is used when present; and a server that refuses our certificate
/// makes <c>--once</c> exit 1 with the reason.
/// </summary>
public sealed class ConnectServerCheckTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task A_server_certificate_of_the_same_CA_for_another_host_is_refused_unless_server_name_names_it()
    {
        using var pki = new TestPki();
        var otherHost = pki.Ca.Issue(CertificateRole.Server, "other", ["other.example"], []);
        await using var backend = EchoBackend.Tcp();
        var (daemon, port) = await TlsDaemon.StartListeningAsync(output, TlsConfig.Endpoint(pki, backend.Address, certificate: otherHost));
        await using var _ = daemon;

        await using (var connect = await ConnectProcess.ForwardAsync(output, $"127.0.0.1:{port}", pki.Admin, pki.CaPath, "--once"))
        {
            Assert.Equal("", await connect.RoundTripAsync("hello"));
            Assert.Equal(1, await connect.WaitForExitAsync(Patience));
            Assert.Contains(connect.Log.Lines, l => l.Contains("refused the server at", StringComparison.Ordinal)
                && l.Contains("certificate is for dns:other.example, not 127.0.0.1", StringComparison.Ordinal));
        }

        await using (var named = await ConnectProcess.ForwardAsync(output, $"127.0.0.1:{port}", pki.Admin, pki.CaPath, "--server-name", "other.example", "--once"))
        {
            Assert.Equal("hello", await named.RoundTripAsync("hello"));
        }
        await using (var byAddress = await ConnectProcess.ForwardAsync(output, $"127.0.0.1:{port}", pki.Admin, pki.CaPath, "--server-name", "srv.example", "--once"))
        {
            Assert.Equal("", await byAddress.RoundTripAsync("hello"));
            Assert.Equal(1, await byAddress.WaitForExitAsync(Patience));
        }
    }

    [Fact]
    public async Task A_revoked_server_certificate_is_refused_from_the_CRL_next_to_the_CA_without_any_option()
    {
        using var pki = new TestPki();
        await using var backend = EchoBackend.Tcp();
        var (daemon, port) = await TlsDaemon.StartListeningAsync(output, TlsConfig.Endpoint(pki, backend.Address));
        await using var _ = daemon;
        var revoke = await Bastionctl.RunAsync("pki", "--dir", pki.Dir, "revoke", "srv");
        Assert.True(revoke.ExitCode == 0, revoke.ToString());

        await using var connect = await ConnectProcess.ForwardAsync(output, $"127.0.0.1:{port}", pki.Admin, pki.CaPath, "--once");
        Assert.Equal("", await connect.RoundTripAsync("hello"));
        Assert.Equal(1, await connect.WaitForExitAsync(Patience));
        Assert.Contains(connect.Log.Lines, l => l.Contains("checking the server's certificate against " + pki.Ca.CrlPath, StringComparison.Ordinal));
        Assert.Contains(connect.Log.Lines, l => l.Contains($"serial {pki.Server.Entry.Serial}: certificate revoked", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Connect_once_exits_1_with_the_reason_when_the_server_refuses_our_certificate()
    {
        using var pki = new TestPki();
        var friend = pki.Client("friend");
        await using var backend = EchoBackend.Tcp();
        var (daemon, port) = await TlsDaemon.StartListeningAsync(output, TlsConfig.Endpoint(pki, backend.Address));
        await using var _ = daemon;
        var revoke = await Bastionctl.RunAsync("pki", "--dir", pki.Dir, "revoke", "friend");
        Assert.True(revoke.ExitCode == 0, revoke.ToString());

        await using var connect = await ConnectProcess.ForwardAsync(output, $"127.0.0.1:{port}", friend, pki.CaPath, "--once");
        Assert.Equal("", await connect.RoundTripAsync("hello"));
        Assert.Equal(1, await connect.WaitForExitAsync(Patience));
        Assert.Contains(connect.Log.Lines, l => l.Contains($"refused by the server at 127.0.0.1:{port}: the server closed the connection right after the handshake", StringComparison.Ordinal)
            && l.Contains("it refused our certificate", StringComparison.Ordinal));
        Assert.Contains($"serial {friend.Entry.Serial}: certificate revoked", await daemon.WaitForLogAsync("tls/vnc: refused"), StringComparison.Ordinal);

        // The control: the admin's certificate, same command, exits 0.
        await using var admin = await ConnectProcess.ForwardAsync(output, $"127.0.0.1:{port}", pki.Admin, pki.CaPath, "--once");
        Assert.Equal("fine", await admin.RoundTripAsync("fine"));
        Assert.Equal(0, await admin.WaitForExitAsync(Patience));
    }
}
