using Bastion.IntegrationTests.Cli;
using Bastion.Vnc;
using Xunit.Abstractions;

namespace Bastion.IntegrationTests.Vnc;

/// <summary>Who gets to the desktop (vnc.mode always): only a valid client certificate of the session CA, then the VNC password.</summary>
public sealed class VncAccessTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Clients_without_a_certificate_with_another_CA_or_revoked_are_refused_before_any_VNC_byte_and_logged()
    {
        await using var vnc = await VncTestDaemon.StartAsync(output, "always");
        var port = await vnc.WaitRaisedAsync();
        using var other = new Tls.TestPki("other-ca");
        var friend = vnc.Pki.Client("friend");
        var revoke = await Bastionctl.RunAsync("pki", "--dir", vnc.Pki.Dir, "revoke", "friend");
        Assert.True(revoke.ExitCode == 0, revoke.ToString());

        await AssertRefusedAsync(port, vnc.Pki.CaPath, null);
        Assert.Contains("no client certificate presented", await vnc.Daemon.WaitForLogLineAsync("tls/vnc: refused", 1), StringComparison.Ordinal);
        await AssertRefusedAsync(port, vnc.Pki.CaPath, other.Admin);
        Assert.Contains($"serial {other.Admin.Entry.Serial}: not signed by the session CA", await vnc.Daemon.WaitForLogLineAsync("tls/vnc: refused", 2), StringComparison.Ordinal);
        await AssertRefusedAsync(port, vnc.Pki.CaPath, friend);
        Assert.Contains($"subject CN=friend serial {friend.Entry.Serial}: certificate revoked", await vnc.Daemon.WaitForLogLineAsync("tls/vnc: refused", 3), StringComparison.Ordinal);

        // The desktop itself was fine all along: the admin gets in.
        await using var admin = await vnc.ConnectAsync(port);
        Assert.Equal(320, (await admin.HandshakeAsync(VncTestDaemon.Password)).Width);
        Assert.DoesNotContain(vnc.Daemon.Log.Lines, l => l.Contains("VNC session opened by CN=friend", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_wrong_VNC_password_is_refused_logged_with_the_certificate_serial_and_rate_limited_per_certificate()
    {
        await using var vnc = await VncTestDaemon.StartAsync(output, "always", tlsExtra: "    maxFailedHandshakesPerMinute: 3");
        var port = await vnc.WaitRaisedAsync();

        for (var attempt = 1; attempt <= 3; attempt++)
        {
            await using var guesser = await vnc.ConnectAsync(port);
            var refused = await Assert.ThrowsAsync<RfbException>(() => guesser.HandshakeAsync("guess" + attempt));
            Assert.Equal(RfbHealth.AuthBroken, refused.Health);
            var line = await vnc.Daemon.WaitForLogLineAsync("VNC authentication failed", attempt);
            Assert.Contains($"tls/vnc: VNC authentication failed for CN=admin serial {vnc.Pki.Admin.Entry.Serial} from 127.0.0.1:", line, StringComparison.Ordinal);
        }
        await vnc.Daemon.WaitForLogLineAsync("reached 3 wrong VNC passwords in a minute", 1);
        var status = await vnc.WaitAsync(s => VncTestDaemon.Endpoint(s).Details.GetValueOrDefault("vncAuthFailures") == "3", "vncAuthFailures 3");
        Assert.Contains("CN=admin", VncTestDaemon.Endpoint(status).Details["lastVncAuthFailure"], StringComparison.Ordinal);

        // Limited: that certificate is refused, even with the right password, until the failures age out.
        await AssertRefusedAsync(port, vnc.Pki.CaPath, vnc.Pki.Admin);
        Assert.DoesNotContain(vnc.Daemon.Log.Lines, l => l.Contains(VncTestDaemon.Password, StringComparison.Ordinal));
        Assert.DoesNotContain(vnc.Daemon.Log.Lines, l => l.Contains("guess", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Password_guesses_in_an_odd_RFB_version_and_a_client_that_is_not_RFB_are_logged_and_count_against_the_certificate()
    {
        await using var vnc = await VncTestDaemon.StartAsync(output, "always", tlsExtra: "    maxFailedHandshakesPerMinute: 2");
        var port = await vnc.WaitRaisedAsync();

        // Xvnc reads the client's version with sscanf("RFB %03d.%03d\n"): "RFB 003.010" is 3.8 to it, and it asks for the password.
        await using (var odd = await vnc.ConnectAsync(port))
        {
            Assert.Equal("RFB 003.008\n", System.Text.Encoding.ASCII.GetString(await odd.ReceiveAsync(12)));
            await odd.SendAsync("RFB 003.010\n"u8.ToArray());
            Assert.Equal(new byte[] { 1, VncAuth.SecurityType }, await odd.ReceiveAsync(2));
            await odd.SendAsync([VncAuth.SecurityType]);
            var challenge = await odd.ReceiveAsync(VncAuth.ChallengeLength);
            await odd.SendAsync(VncAuth.Response(challenge, "guess1"));
            Assert.NotEqual(new byte[4], await odd.ReceiveAsync(4)); // Xvnc said no
        }
        var line = await vnc.Daemon.WaitForLogLineAsync("VNC authentication failed", 1);
        Assert.Contains($"tls/vnc: VNC authentication failed for CN=admin serial {vnc.Pki.Admin.Entry.Serial} from 127.0.0.1:", line, StringComparison.Ordinal);

        await using (var browser = await vnc.ConnectAsync(port))
        {
            await browser.SendAsync("GET / HTTP/1.1\r\nHost: x\r\n\r\n"u8.ToArray());
            await vnc.Daemon.WaitForLogLineAsync("not an RFB handshake Bastion can follow", 1);
        }
        Assert.Contains($"from CN=admin serial {vnc.Pki.Admin.Entry.Serial} from 127.0.0.1:", await vnc.Daemon.WaitForLogLineAsync("not an RFB handshake", 1), StringComparison.Ordinal);
        await vnc.Daemon.WaitForLogLineAsync("reached 2 wrong VNC passwords in a minute", 1);
        await AssertRefusedAsync(port, vnc.Pki.CaPath, vnc.Pki.Admin); // limited, like two wrong passwords (the certificate, not the address)
    }

    [Fact]
    public async Task The_limit_on_wrong_passwords_outlives_an_Xvnc_restart()
    {
        await using var vnc = await VncTestDaemon.StartAsync(output, "always", tlsExtra: "    maxFailedHandshakesPerMinute: 2");
        var port = await vnc.WaitRaisedAsync();
        for (var attempt = 1; attempt <= 2; attempt++)
        {
            await using var guesser = await vnc.ConnectAsync(port);
            await Assert.ThrowsAsync<RfbException>(() => guesser.HandshakeAsync("guess" + attempt));
        }
        await vnc.Daemon.WaitForLogLineAsync("reached 2 wrong VNC passwords in a minute", 1);

        // Xvnc dies and comes back: the endpoint listens anew, but the guesser's address is still limited.
        var xvnc = VncTestDaemon.Pid(VncTestDaemon.Desktop(vnc.Daemon.ReadStatus()), "xvncPid")!.Value;
        Bastion.IntegrationTests.Infrastructure.Posix.Signal(xvnc, 9);
        await vnc.WaitAsync(s => VncTestDaemon.Desktop(s).Details["xvncRestarts"] == "1", "Xvnc restarted");
        var again = await vnc.WaitRaisedAsync();
        await AssertRefusedAsync(again, vnc.Pki.CaPath, vnc.Pki.Admin);
    }

    /// <summary>The TLS session or the RFB handshake fails: no ServerInit reaches the client.</summary>
    private static async Task AssertRefusedAsync(int port, string caPath, Bastion.Pki.IssueResult? identity)
    {
        Exception? failure = null;
        try
        {
            await using var client = await RfbTlsClient.ConnectAsync(port, caPath, identity);
            await client.HandshakeAsync(VncTestDaemon.Password);
        }
        catch (Exception e) when (e is IOException or System.Security.Authentication.AuthenticationException or RfbException or System.Net.Sockets.SocketException)
        {
            failure = e;
        }
        Assert.NotNull(failure);
        Assert.False(failure is RfbException { Health: RfbHealth.AuthBroken }, "reached VNC authentication: " + failure.Message);
    }
}
