using Bastion.Config;
using Bastion.Ssh;

namespace Bastion.Tests.Ssh;

public sealed class SshPolicyTests
{
    [Fact]
    public void Only_aead_ciphers_are_offered_aes_gcm_first_and_nothing_with_sha1_cbc_or_ssh_rsa()
    {
        Assert.Equal(["aes128-gcm@openssh.com", "aes256-gcm@openssh.com"], SshAlgorithms.Ciphers);
        var all = SshAlgorithms.KeyExchange.Concat(SshAlgorithms.Ciphers).Concat(SshAlgorithms.Macs).Concat(SshAlgorithms.HostKeys).ToList();
        Assert.DoesNotContain(all, a => a.Contains("cbc", StringComparison.Ordinal) || a.Contains("sha1", StringComparison.Ordinal)
            || a.Contains("group1-", StringComparison.Ordinal) || a.Contains("group14", StringComparison.Ordinal));
        Assert.DoesNotContain("ssh-rsa", SshAlgorithms.HostKeys);
        Assert.Contains("rsa-sha2-256", SshAlgorithms.HostKeys);
        Assert.Equal("curve25519-sha256", SshAlgorithms.KeyExchange[0]);
    }

    [Fact]
    public void Restricting_a_library_list_keeps_the_policy_order_and_drops_the_rest()
    {
        string[] library = ["aes128-ctr", "aes256-gcm@openssh.com", "chacha20-poly1305@openssh.com", "aes128-gcm@openssh.com", "aes128-cbc"];
        Assert.Equal(["aes128-gcm@openssh.com", "aes256-gcm@openssh.com"], SshAlgorithms.Restrict(library, SshAlgorithms.Ciphers));
    }

    private static TunnelConfig Tunnel(string name, string user = "bastion", int port = 22, TunnelVia via = TunnelVia.Direct) => new()
    {
        Name = name,
        Kind = TunnelKind.Local,
        Server = new SshServerConfig
        {
            Host = "gw.example.org", Port = port, User = user, Identity = "/etc/bastion/id",
            HostKey = new HostKeyConfig { Fingerprints = ["SHA256:f+MBIWY78I2QFpPR3dFB27DxF/+3SHAxu+2DvHOv1M8"] },
        },
        Bind = new Endpoint("127.0.0.1", 0),
        Via = via,
    };

    [Fact]
    public void Tunnels_to_the_same_server_with_the_same_login_share_a_session_key_and_others_do_not()
    {
        var socks = new Endpoint("127.0.0.1", 9050);
        Assert.Equal(SshSessionKey.For(Tunnel("a"), null), SshSessionKey.For(Tunnel("b"), null));
        Assert.NotEqual(SshSessionKey.For(Tunnel("a"), null), SshSessionKey.For(Tunnel("b", user: "other"), null));
        Assert.NotEqual(SshSessionKey.For(Tunnel("a"), null), SshSessionKey.For(Tunnel("b", port: 2222), null));
        Assert.NotEqual(SshSessionKey.For(Tunnel("a"), null), SshSessionKey.For(Tunnel("b", via: TunnelVia.Tor), socks));
        Assert.Equal("bastion@gw.example.org:22 via socks 127.0.0.1:9050", SshSessionKey.For(Tunnel("a", via: TunnelVia.Tor), socks).ToString());
    }

    [Fact]
    public void Only_failures_a_retry_cannot_fix_are_held_off_and_only_a_host_key_mismatch_is_a_security_event()
    {
        Assert.Equal(TimeSpan.FromMinutes(5), new SshFailure(SshFailureKind.HostKeyMismatch, "").HoldOff);
        Assert.Equal(TimeSpan.FromMinutes(1), new SshFailure(SshFailureKind.AuthenticationRejected, "").HoldOff);
        Assert.Null(new SshFailure(SshFailureKind.Refused, "").HoldOff);
        Assert.Null(new SshFailure(SshFailureKind.RemotePortBusy, "").HoldOff);
        Assert.True(new SshFailure(SshFailureKind.HostKeyMismatch, "").IsSecurityEvent);
        Assert.False(new SshFailure(SshFailureKind.AuthenticationRejected, "").IsSecurityEvent);
    }
}
