using Bastion.Config;
using Bastion.Ssh;

namespace Bastion.Tests.Ssh;

/// <summary>Test vectors made with OpenSSH 9.2: ssh-keygen -t ed25519, ssh-keygen -lf, ssh-keygen -H.</summary>
public sealed class HostKeyPolicyTests
{
    private const string HostKeyLine = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFaZ5wffQaiO59jXa4XuvRGqsaegvgfwsZn9TccY9FSq";
    private const string HostFingerprint = "SHA256:tdG49zZH8U8mizsfMrlddqFMCUyt3m01u10OKVFLdc0";
    private const string CaLine = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILjp5rsHYqNeCp+TbuscZ5HJcMZ72NZk+4Ngm53ejPfz";
    private const string CaFingerprint = "SHA256:rbLBtXIX32JBXYn0gfoDvdCKtaMs8CvbxH+OhF9XQ94";
    private const string OtherFingerprint = "SHA256:f+MBIWY78I2QFpPR3dFB27DxF/+3SHAxu+2DvHOv1M8";

    // ssh-keygen -H of "[gw.example.org]:2222 KEY" and "gw.example.org KEY"
    private const string HashedKnownHosts = """
        # hashed by ssh-keygen -H
        |1|Ks8LSxbYuQHdVW0MhNHkIRhQM80=|IcSHu9nXqChCDNyfkJa1cEAT+6E= ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFaZ5wffQaiO59jXa4XuvRGqsaegvgfwsZn9TccY9FSq
        |1|aenlpMXOyA6G8QyWZ0zRTtd7Vvs=|yPZ5Z2OC0SGfdaPZsXhlBegraAo= ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFaZ5wffQaiO59jXa4XuvRGqsaegvgfwsZn9TccY9FSq
        """;

    private static readonly DateTimeOffset Now = new(2026, 11, 23, 0, 0, 0, TimeSpan.Zero);
    private static readonly PresentedHostKey Presented = new("ssh-ed25519", HostKeyPolicy.ParseKeyLine(HostKeyLine)!);

    [Fact]
    public void The_fingerprint_is_the_one_ssh_keygen_prints()
    {
        Assert.Equal(HostFingerprint, Presented.Fingerprint);
        Assert.Equal(CaFingerprint, SshFingerprint.Of(HostKeyPolicy.ParseKeyLine(CaLine)!));
    }

    [Fact]
    public void A_pinned_fingerprint_is_trusted_and_another_is_refused_naming_both()
    {
        var pinned = new HostKeyPolicy(new HostKeyConfig { Fingerprints = [OtherFingerprint, HostFingerprint] }, null);
        Assert.True(pinned.Verify("gw.example.org", 22, Presented, Now).Trusted);

        var wrong = new HostKeyPolicy(new HostKeyConfig { Fingerprints = [OtherFingerprint] }, null).Verify("gw.example.org", 22, Presented, Now);
        Assert.False(wrong.Trusted);
        Assert.Equal($"host key mismatch: the server presented ssh-ed25519 {HostFingerprint}; expected pinned {OtherFingerprint}", wrong.Description);
    }

    [Theory]
    [InlineData("gw.example.org", 2222, true)]
    [InlineData("GW.example.org", 2222, true)]
    [InlineData("gw.example.org", 22, true)]
    [InlineData("gw.example.org", 2200, false)]
    [InlineData("other.example.org", 22, false)]
    public void Hashed_known_hosts_entries_match_the_host_and_port_they_were_written_for(string host, int port, bool trusted)
    {
        var policy = new HostKeyPolicy(new HostKeyConfig { KnownHosts = "/etc/bastion/known_hosts" }, HashedKnownHosts);
        var verdict = policy.Verify(host, port, Presented, Now);
        Assert.Equal(trusted, verdict.Trusted);
        if (!trusted)
        {
            Assert.Contains($"(it has none)", verdict.Description, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("[gw.example.org]:2222", "gw.example.org", 2222, true)]
    [InlineData("gw.example.org", "gw.example.org", 2222, false)]
    [InlineData("*.example.org,!bad.example.org", "gw.example.org", 22, true)]
    [InlineData("*.example.org,!bad.example.org", "bad.example.org", 22, false)]
    [InlineData("gw?.example.org", "gw1.example.org", 22, true)]
    [InlineData("[*.example.org]:*", "gw.example.org", 2222, true)]
    [InlineData("10.0.0.1,gw.example.org", "10.0.0.1", 22, true)]
    public void Plain_known_hosts_patterns_follow_ssh(string patterns, string host, int port, bool matches) =>
        Assert.Equal(matches, KnownHosts.Matches(patterns, KnownHosts.LookupName(host, port)));

    [Fact]
    public void A_revoked_key_is_refused_even_when_pinned()
    {
        var policy = new HostKeyPolicy(new HostKeyConfig { Fingerprints = [HostFingerprint], KnownHosts = "kh" }, $"@revoked * {HostKeyLine}\n");
        var verdict = policy.Verify("gw.example.org", 22, Presented, Now);
        Assert.False(verdict.Trusted);
        Assert.Contains("@revoked in kh line 1", verdict.Description, StringComparison.Ordinal);
    }

    [Fact]
    public void Unreadable_known_hosts_lines_are_skipped_and_counted()
    {
        var parsed = KnownHosts.Parse($"garbage\n@nonsense host {HostKeyLine}\nhost ssh-ed25519 !!!\n\n# comment\nhost {HostKeyLine}\n");
        Assert.Equal(3, parsed.Skipped);
        Assert.Equal(6, Assert.Single(parsed.Entries).Line);
    }

    private static PresentedHostKey Certificate(string[] principals, DateTimeOffset after, DateTimeOffset before, bool host = true, string ca = CaLine) =>
        Presented with { KeyType = "ssh-ed25519-cert-v01@openssh.com", Certificate = new(HostKeyPolicy.ParseKeyLine(ca)!, principals, after, before, host) };

    [Fact]
    public void A_host_certificate_from_the_configured_ca_for_this_host_and_valid_now_is_trusted()
    {
        var policy = new HostKeyPolicy(new HostKeyConfig { Ca = CaLine + " host-ca" }, null);
        var verdict = policy.Verify("gw.example.org", 22, Certificate(["gw.example.org"], Now.AddDays(-1), Now.AddDays(1)), Now);
        Assert.True(verdict.Trusted, verdict.Description);
        Assert.Contains(CaFingerprint, verdict.Description, StringComparison.Ordinal);
    }

    [Fact]
    public void A_cert_authority_line_in_known_hosts_trusts_certificates_for_matching_hosts_only()
    {
        var policy = new HostKeyPolicy(new HostKeyConfig { KnownHosts = "kh" }, $"@cert-authority *.example.org {CaLine}\n");
        Assert.True(policy.Verify("gw.example.org", 22, Certificate([], Now.AddDays(-1), Now.AddDays(1)), Now).Trusted);
        Assert.False(policy.Verify("gw.example.net", 22, Certificate([], Now.AddDays(-1), Now.AddDays(1)), Now).Trusted);
    }

    [Theory]
    [InlineData("other.example.org", -1, 1, true, "is for other.example.org, not gw.example.org")]
    [InlineData("gw.example.org", -2, -1, true, "is not valid now")]
    [InlineData("gw.example.org", 1, 2, true, "is not valid now")]
    [InlineData("gw.example.org", -1, 1, false, "user certificate")]
    public void A_certificate_for_another_host_expired_or_of_the_wrong_type_is_refused(string principal, int afterDays, int beforeDays, bool host, string why)
    {
        var policy = new HostKeyPolicy(new HostKeyConfig { Ca = CaLine }, null);
        var verdict = policy.Verify("gw.example.org", 22, Certificate([principal], Now.AddDays(afterDays), Now.AddDays(beforeDays), host), Now);
        Assert.False(verdict.Trusted);
        Assert.Contains(why, verdict.Description, StringComparison.Ordinal);
    }

    [Fact]
    public void A_certificate_signed_by_an_unknown_ca_falls_back_to_the_pins()
    {
        var policy = new HostKeyPolicy(new HostKeyConfig { Ca = CaLine, Fingerprints = [OtherFingerprint] }, null);
        var verdict = policy.Verify("gw.example.org", 22, Certificate(["gw.example.org"], Now.AddDays(-1), Now.AddDays(1), ca: HostKeyLine), Now);
        Assert.False(verdict.Trusted);
        Assert.Contains("a host certificate signed by the configured CA", verdict.Description, StringComparison.Ordinal);
    }
}
