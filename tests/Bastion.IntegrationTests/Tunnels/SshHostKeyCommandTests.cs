using Bastion.IntegrationTests.Cli;
using Bastion.IntegrationTests.Infrastructure;
using Xunit.Abstractions;

namespace Bastion.IntegrationTests.Tunnels;

/// <summary><c>bastionctl ssh hostkey</c> against a real sshd: the fingerprints ssh-keygen computes, a snippet, no trust.</summary>
public sealed class SshHostKeyCommandTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Ssh_hostkey_prints_every_host_key_fingerprint_of_the_server_and_a_snippet_to_pin_them()
    {
        using var extra = new TempRoot("hostkey-");
        var ecdsa = extra.File("host_ecdsa");
        var keygen = await ExternalCommand.RunAsync("ssh-keygen", ["-q", "-t", "ecdsa", "-N", "", "-f", ecdsa], TimeSpan.FromSeconds(20));
        Assert.True(keygen.ExitCode == 0, keygen.Describe());
        await using var sshd = await Sshd.StartAsync(Path.GetTempPath(), output, $"HostKey {ecdsa}");

        var run = await Bastionctl.RunAsync("ssh", "hostkey", $"127.0.0.1:{sshd.Port}");
        output.WriteLine(run.ToString());

        Assert.True(run.ExitCode == 0, run.ToString());
        var ed25519 = await FingerprintAsync(sshd.HostKeyPublic);
        var ecdsaFingerprint = await FingerprintAsync(ecdsa + ".pub");
        Assert.Contains($"ssh-ed25519            {ed25519}", run.Stdout, StringComparison.Ordinal);
        Assert.Contains($"ecdsa-sha2-nistp256    {ecdsaFingerprint}", run.Stdout, StringComparison.Ordinal);
        Assert.Contains("NOT verified", run.Stdout, StringComparison.Ordinal);
        Assert.Contains($"    hostKey:\n      fingerprints:\n        - {ed25519}   # ssh-ed25519\n        - {ecdsaFingerprint}   # ecdsa-sha2-nistp256\n",
            run.Stdout.ReplaceLineEndings("\n"), StringComparison.Ordinal);
        Assert.DoesNotContain(sshd.LogLines, l => l.Contains("Accepted", StringComparison.Ordinal) || l.Contains("Failed none", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Ssh_hostkey_for_a_port_without_sshd_says_connection_refused_and_exits_1()
    {
        var run = await Bastionctl.RunAsync("ssh", "hostkey", $"127.0.0.1:{FreePort.Pick()}");
        Assert.True(run.ExitCode == 1, run.ToString());
        Assert.Contains("connection refused", run.Stderr, StringComparison.Ordinal);
    }

    private static async Task<string> FingerprintAsync(string pub)
    {
        var result = await ExternalCommand.RunAsync("ssh-keygen", ["-lf", pub], TimeSpan.FromSeconds(20));
        Assert.True(result.ExitCode == 0, result.Describe());
        return result.StdOut.Split(' ')[1];
    }
}
