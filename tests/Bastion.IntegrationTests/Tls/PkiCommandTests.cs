using Bastion.IntegrationTests.Cli;
using Bastion.IntegrationTests.Infrastructure;

namespace Bastion.IntegrationTests.Tls;

/// <summary>
/// <c>bastionctl pki</c> end to end, with openssl as the outside judge of what it wrote: chains, roles (EKU), pins, the CRL.
/// </summary>
public sealed class PkiCommandTests : IDisposable
{
    private readonly TempRoot _root = new("bastion-pki-cli-");

    private string Dir => _root.File("pki");

    private async Task<BastionctlRun> Pki(params string[] args)
    {
        var run = await Bastionctl.RunAsync(["pki", "--dir", Dir, .. args], null, null);
        return run;
    }

    private static async Task<CommandResult> OpenSsl(params string[] args) =>
        await ExternalCommand.RunAsync("openssl", args, TimeSpan.FromSeconds(20));

    private string File(string name) => Path.Combine(Dir, name);

    [Fact]
    public async Task Init_and_issue_write_PEM_files_with_private_keys_0600_and_print_the_SPKI_pins_openssl_computes()
    {
        Assert.Equal(0, (await Pki("init")).ExitCode);
        var server = await Pki("issue", "server", "web1", "--dns", "web1.example.org", "--ip", "127.0.0.1");
        Assert.True(server.ExitCode == 0, server.ToString());
        var client = await Pki("issue", "client", "laptop", "--days", "2");
        Assert.True(client.ExitCode == 0, client.ToString());

        foreach (var key in new[] { "ca.key", "issued/web1.key", "issued/laptop.key" })
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, System.IO.File.GetUnixFileMode(File(key)));
        }
        var pin = await ExternalCommand.RunAsync("/bin/sh",
            ["-c", $"openssl x509 -pubkey -noout -in {File("issued/web1.crt")} | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64"], TimeSpan.FromSeconds(20));
        Assert.Contains($"pin          {pin.StdOut.Trim()}", server.Stdout, StringComparison.Ordinal);
        var text = await OpenSsl("x509", "-noout", "-text", "-in", File("issued/web1.crt"));
        Assert.Contains("DNS:web1.example.org, IP Address:127.0.0.1", text.StdOut, StringComparison.Ordinal);
        Assert.Contains("prime256v1", text.StdOut, StringComparison.Ordinal);

        var list = await Pki("list");
        Assert.Contains(list.Stdout.Split('\n'), l => l.StartsWith("web1 ", StringComparison.Ordinal) && l.Contains("server", StringComparison.Ordinal) && l.Contains(" valid ", StringComparison.Ordinal));
        Assert.Contains(list.Stdout.Split('\n'), l => l.StartsWith("laptop ", StringComparison.Ordinal) && l.Contains("client", StringComparison.Ordinal) && l.Contains("renew-soon", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Roles_are_enforced_by_EKU_a_client_certificate_is_no_server_certificate_and_the_reverse()
    {
        Assert.Equal(0, (await Pki("init")).ExitCode);
        Assert.Equal(0, (await Pki("issue", "server", "srv", "--ip", "127.0.0.1")).ExitCode);
        Assert.Equal(0, (await Pki("issue", "client", "admin")).ExitCode);

        Assert.Equal(0, (await OpenSsl("verify", "-CAfile", File("ca.crt"), "-purpose", "sslserver", File("issued/srv.crt"))).ExitCode);
        Assert.Equal(0, (await OpenSsl("verify", "-CAfile", File("ca.crt"), "-purpose", "sslclient", File("issued/admin.crt"))).ExitCode);
        Assert.NotEqual(0, (await OpenSsl("verify", "-CAfile", File("ca.crt"), "-purpose", "sslclient", File("issued/srv.crt"))).ExitCode);
        Assert.NotEqual(0, (await OpenSsl("verify", "-CAfile", File("ca.crt"), "-purpose", "sslserver", File("issued/admin.crt"))).ExitCode);
    }

    [Fact]
    public async Task Revoke_rewrites_a_CRL_that_openssl_verifies_and_that_revokes_the_certificate()
    {
        Assert.Equal(0, (await Pki("init", "--algorithm", "ecdsa-p384")).ExitCode);
        Assert.Equal(0, (await Pki("issue", "client", "friend")).ExitCode);
        var ok = await OpenSsl("verify", "-crl_check", "-CAfile", File("ca.crt"), "-CRLfile", File("crl.pem"), File("issued/friend.crt"));
        Assert.True(ok.ExitCode == 0, ok.Describe());

        var revoke = await Pki("revoke", "friend");
        Assert.True(revoke.ExitCode == 0, revoke.ToString());
        Assert.Equal(0, (await OpenSsl("crl", "-in", File("crl.pem"), "-CAfile", File("ca.crt"), "-noout")).ExitCode);
        var revoked = await OpenSsl("verify", "-crl_check", "-CAfile", File("ca.crt"), "-CRLfile", File("crl.pem"), File("issued/friend.crt"));
        Assert.NotEqual(0, revoked.ExitCode);
        Assert.Contains("certificate revoked", revoked.Output, StringComparison.Ordinal);
        Assert.Contains("secp384r1", (await OpenSsl("x509", "-noout", "-text", "-in", File("ca.crt"))).StdOut, StringComparison.Ordinal);
        Assert.Contains(" revoked ", (await Pki("list")).Stdout, StringComparison.Ordinal);

        var again = await Pki("revoke", "friend");
        Assert.Equal(1, again.ExitCode);
        Assert.Contains("'friend' is already revoked", again.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Issuing_a_name_that_still_has_a_valid_certificate_is_refused_and_renew_issues_a_new_one()
    {
        Assert.Equal(0, (await Pki("init")).ExitCode);
        Assert.Equal(0, (await Pki("issue", "client", "admin")).ExitCode);
        var twice = await Pki("issue", "client", "admin");
        Assert.Equal(1, twice.ExitCode);
        Assert.Contains("'admin' already has a valid client certificate", twice.Stderr, StringComparison.Ordinal);

        var renew = await Pki("renew", "admin");
        Assert.True(renew.ExitCode == 0, renew.ToString());
        var rows = (await Pki("list")).Stdout.Split('\n').Where(l => l.StartsWith("admin ", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, rows.Count);
        Assert.All(rows, r => Assert.Contains(" valid", r, StringComparison.Ordinal));

        var server = await Pki("issue", "server", "nameless");
        Assert.Equal(1, server.ExitCode);
        Assert.Contains("--dns HOST and/or --ip ADDRESS", server.Stderr, StringComparison.Ordinal);
        var init = await Pki("init");
        Assert.Equal(1, init.ExitCode);
        Assert.Contains("already holds a CA", init.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Without_dir_the_CA_directory_is_pki_dir_of_the_config()
    {
        var config = _root.Write("bastion.yaml", $"paths:\n  stateDir: {_root.File("state")}\npki:\n  dir: {Dir}\n  algorithm: ecdsa-p384\n");
        var init = await Bastionctl.RunAsync(["--config", config, "pki", "init"], null, null);
        Assert.True(init.ExitCode == 0, init.ToString());
        Assert.True(System.IO.File.Exists(File("ca.key")));
        Assert.Contains("secp384r1", (await OpenSsl("x509", "-noout", "-text", "-in", File("ca.crt"))).StdOut, StringComparison.Ordinal);
    }

    public void Dispose() => _root.Dispose();
}
