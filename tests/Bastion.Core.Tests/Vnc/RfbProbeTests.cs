using System.Net.Sockets;
using Bastion.Vnc;
using Microsoft.Extensions.Time.Testing;

namespace Bastion.Tests.Vnc;

/// <summary>The RFB client handshake against scripted servers: what it sends, and how it classifies what it gets.</summary>
public sealed class RfbProbeTests
{
    private const string Password = "Pw7secrt";
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(10);

    private static async Task<RfbProbeResult> ProbeAsync(Func<ScriptedRfbServer.Peer, Task> script)
    {
        await using var server = new ScriptedRfbServer(script);
        await using var stream = await server.ConnectAsync();
        var result = await RfbProbe.ProbeAsync(stream, Password, CancellationToken.None).WaitAsync(Limit);
        Assert.DoesNotContain(Password, result.Detail, StringComparison.Ordinal);
        Assert.DoesNotContain(Password, result.Describe(), StringComparison.Ordinal);
        stream.Socket.Shutdown(SocketShutdown.Both);
        await server.CompletionAsync();
        return result;
    }

    /// <summary>A 3.8 server up to the challenge; the client's choices are checked on the way.</summary>
    private static async Task ToChallengeAsync(ScriptedRfbServer.Peer peer, string version = "003.008", string answer = "003.008")
    {
        await peer.SendAsync(Rfb.Version(version));
        Assert.Equal(Rfb.Version(answer), await peer.ReceiveAsync(12));
        await peer.SendAsync([2, 2, 19]);
        Assert.Equal([2], await peer.ReceiveAsync(1));
        await peer.SendAsync(Rfb.Challenge);
        Assert.Equal(VncAuth.Response(Rfb.Challenge, Password), await peer.ReceiveAsync(16));
    }

    [Fact]
    public async Task A_38_server_that_accepts_the_password_is_up_with_its_desktop_size_pixel_format_and_name()
    {
        var result = await ProbeAsync(async peer =>
        {
            await ToChallengeAsync(peer);
            await peer.SendAsync(Rfb.U32(0));
            Assert.Equal([1], await peer.ReceiveAsync(1)); // ClientInit: shared, never kick a live admin off
            await peer.SendAsync(Rfb.ServerInit(1280, 800, "Bastion emergency desktop on host1"));
            await peer.DrainAsync();
        });

        Assert.Equal(RfbHealth.Up, result.Health);
        Assert.Equal("1280x800 'Bastion emergency desktop on host1'", result.Detail);
        Assert.Equal("up: 1280x800 'Bastion emergency desktop on host1'", result.Describe());
        Assert.Equal(1280, result.ServerInit!.Width);
        Assert.Equal(800, result.ServerInit.Height);
        Assert.Equal(Rfb.PixelFormat, result.ServerInit.PixelFormat);
        Assert.Equal("Bastion emergency desktop on host1", result.ServerInit.Name);
    }

    [Fact]
    public async Task The_handshake_leaves_the_stream_open_for_the_client_to_go_on()
    {
        await using var server = new ScriptedRfbServer(async peer =>
        {
            await ToChallengeAsync(peer);
            await peer.SendAsync(Rfb.U32(0));
            await peer.ReceiveAsync(1);
            await peer.SendAsync(Rfb.ServerInit(640, 480, "d"));
            Assert.Equal([3, 0, 0, 0, 0, 0, 2, 128, 1, 224], await peer.ReceiveAsync(10)); // FramebufferUpdateRequest
        });
        await using var stream = await server.ConnectAsync();
        var init = await RfbProbe.HandshakeAsync(stream, Password, CancellationToken.None).WaitAsync(Limit);
        Assert.Equal((640, 480), (init.Width, init.Height));
        await stream.WriteAsync(new byte[] { 3, 0, 0, 0, 0, 0, 2, 128, 1, 224 }).AsTask().WaitAsync(Limit);
        await server.CompletionAsync();
    }

    [Fact]
    public async Task A_wrong_password_on_38_is_auth_broken_with_the_servers_reason()
    {
        var result = await ProbeAsync(async peer =>
        {
            await ToChallengeAsync(peer);
            await peer.SendAsync(Rfb.U32(1), Rfb.String("Authentication failure"));
            await peer.DrainAsync();
        });
        Assert.Equal(new RfbProbeResult(RfbHealth.AuthBroken, "password rejected: Authentication failure"), result);
    }

    [Fact]
    public async Task A_wrong_password_on_37_is_auth_broken_without_waiting_for_a_reason_that_37_does_not_send()
    {
        var result = await ProbeAsync(async peer =>
        {
            await ToChallengeAsync(peer, "003.007", "003.007");
            await peer.SendAsync(Rfb.U32(1)); // and the connection stays open
            await peer.DrainAsync();
        });
        Assert.Equal(new RfbProbeResult(RfbHealth.AuthBroken, "password rejected"), result);
    }

    [Fact]
    public async Task A_38_server_that_closes_after_a_failed_result_without_a_reason_is_still_a_rejected_password()
    {
        var result = await ProbeAsync(async peer =>
        {
            await ToChallengeAsync(peer);
            await peer.SendAsync(Rfb.U32(1));
            peer.Close();
        });
        Assert.Equal(new RfbProbeResult(RfbHealth.AuthBroken, "password rejected"), result);
    }

    [Fact]
    public async Task A_33_server_chooses_VNC_authentication_and_is_answered_in_33()
    {
        var result = await ProbeAsync(async peer =>
        {
            await peer.SendAsync(Rfb.Version("003.003"));
            Assert.Equal(Rfb.Version("003.003"), await peer.ReceiveAsync(12));
            await peer.SendAsync(Rfb.U32(2), Rfb.Challenge);
            Assert.Equal(VncAuth.Response(Rfb.Challenge, Password), await peer.ReceiveAsync(16));
            await peer.SendAsync(Rfb.U32(0));
            Assert.Equal([1], await peer.ReceiveAsync(1));
            await peer.SendAsync(Rfb.ServerInit(800, 600, "old"));
            await peer.DrainAsync();
        });
        Assert.Equal(new RfbProbeResult(RfbHealth.Up, "800x600 'old'", result.ServerInit), result);
    }

    [Theory]
    [InlineData("003.005", "003.003")] // RFC 6143: other 3.x minors are 3.3
    [InlineData("003.009", "003.008")] // a newer minor: we speak 3.8
    public async Task Other_minor_versions_are_answered_with_the_nearest_one_we_speak(string offered, string answer)
    {
        var result = await ProbeAsync(async peer =>
        {
            await peer.SendAsync(Rfb.Version(offered));
            Assert.Equal(Rfb.Version(answer), await peer.ReceiveAsync(12));
            peer.Close();
        });
        Assert.Equal(RfbHealth.Dead, result.Health);
        Assert.Equal("closed during the security handshake", result.Detail);
    }

    [Fact]
    public async Task A_33_server_that_refuses_is_auth_broken_with_its_reason()
    {
        var result = await ProbeAsync(async peer =>
        {
            await peer.SendAsync(Rfb.Version("003.003"));
            await peer.ReceiveAsync(12);
            await peer.SendAsync(Rfb.U32(0), Rfb.String("Too many security failures"));
            await peer.DrainAsync();
        });
        Assert.Equal(new RfbProbeResult(RfbHealth.AuthBroken, "server refused: Too many security failures"), result);
    }

    [Fact]
    public async Task A_33_server_without_authentication_is_auth_broken()
    {
        var result = await ProbeAsync(async peer =>
        {
            await peer.SendAsync(Rfb.Version("003.003"));
            await peer.ReceiveAsync(12);
            await peer.SendAsync(Rfb.U32(1));
            await peer.DrainAsync();
        });
        Assert.Equal(new RfbProbeResult(RfbHealth.AuthBroken, "VNC authentication not offered (types: 1 None)"), result);
    }

    [Fact]
    public async Task A_38_server_that_refuses_the_security_handshake_is_auth_broken_with_its_reason()
    {
        var result = await ProbeAsync(async peer =>
        {
            await peer.SendAsync(Rfb.Version("003.008"));
            await peer.ReceiveAsync(12);
            await peer.SendAsync([0], Rfb.String("Too many security failures"));
            await peer.DrainAsync();
        });
        Assert.Equal(new RfbProbeResult(RfbHealth.AuthBroken, "server refused: Too many security failures"), result);
    }

    [Fact]
    public async Task A_server_that_does_not_offer_VNC_authentication_is_auth_broken_and_says_what_it_offers()
    {
        var result = await ProbeAsync(async peer =>
        {
            await peer.SendAsync(Rfb.Version("003.008"));
            await peer.ReceiveAsync(12);
            await peer.SendAsync([3, 19, 1, 200]);
            await peer.DrainAsync();
        });
        Assert.Equal(new RfbProbeResult(RfbHealth.AuthBroken, "VNC authentication not offered (types: 19 VeNCrypt, 1 None, 200)"), result);
    }

    [Theory]
    [InlineData("SSH-2.0-OpenSSH_9.2p1 Debian\r\n", "not an RFB server: 'SSH-2.0-Open'")]
    [InlineData("HTTP/1.1 400 Bad Request\r\n", "not an RFB server: 'HTTP/1.1 400'")]
    [InlineData("RFB 004.001\n", "not an RFB server: 'RFB 004.001'")]
    [InlineData("RFB 003.889\n", "not an RFB server: 'RFB 003.889'")]
    [InlineData("\u001b[31mRFB 003\n", "not an RFB server: '?[31mRFB 003'")]
    public async Task Anything_but_an_RFB_3_version_is_dead_and_shown_printable(string greeting, string detail)
    {
        var result = await ProbeAsync(async peer =>
        {
            await peer.SendAsync(System.Text.Encoding.ASCII.GetBytes(greeting));
            await peer.DrainAsync();
        });
        Assert.Equal(new RfbProbeResult(RfbHealth.Dead, detail), result);
    }

    [Theory]
    [InlineData(0, "closed during the version exchange")]
    [InlineData(1, "closed during the security handshake")]
    [InlineData(2, "closed during VNC authentication")]
    [InlineData(3, "closed before the security result")]
    [InlineData(4, "closed before ServerInit")]
    [InlineData(5, "closed before ServerInit")]
    public async Task A_server_that_closes_in_the_middle_is_dead_and_the_detail_says_where(int step, string detail)
    {
        var result = await ProbeAsync(async peer =>
        {
            if (step >= 1)
            {
                await peer.SendAsync(Rfb.Version("003.008"));
                await peer.ReceiveAsync(12);
            }
            if (step >= 2)
            {
                await peer.SendAsync([1, 2]);
                await peer.ReceiveAsync(1);
            }
            if (step >= 3)
            {
                await peer.SendAsync(Rfb.Challenge);
                await peer.ReceiveAsync(16);
            }
            if (step >= 4)
            {
                await peer.SendAsync(Rfb.U32(0));
                await peer.ReceiveAsync(1);
            }
            if (step >= 5)
            {
                await peer.SendAsync(Rfb.ServerInit(1280, 800, "half a name")[..30]);
            }
            peer.Close();
        });
        Assert.Equal(new RfbProbeResult(RfbHealth.Dead, detail), result);
    }

    [Fact]
    public async Task A_desktop_name_longer_than_the_bound_is_not_read()
    {
        var result = await ProbeAsync(async peer =>
        {
            await ToChallengeAsync(peer);
            await peer.SendAsync(Rfb.U32(0));
            await peer.ReceiveAsync(1);
            await peer.SendAsync(Rfb.U16(1280), Rfb.U16(800), Rfb.PixelFormat, Rfb.U32(1_000_000_000));
            await peer.DrainAsync();
        });
        Assert.Equal(new RfbProbeResult(RfbHealth.Dead, "ServerInit name too long (1000000000 bytes)"), result);
    }

    [Fact]
    public async Task A_failure_reason_longer_than_the_bound_is_not_read()
    {
        var result = await ProbeAsync(async peer =>
        {
            await peer.SendAsync(Rfb.Version("003.008"));
            await peer.ReceiveAsync(12);
            await peer.SendAsync([0], Rfb.U32(0xFFFFFFFF));
            await peer.DrainAsync();
        });
        Assert.Equal(new RfbProbeResult(RfbHealth.AuthBroken, "server refused: (a reason of 4294967295 bytes, too long to read)"), result);
    }

    [Fact]
    public async Task Peer_strings_are_made_printable_and_shortened_to_80_characters()
    {
        var name = "evil\u001b]0;title\u0007\n" + new string('x', 200);
        var result = await ProbeAsync(async peer =>
        {
            await ToChallengeAsync(peer);
            await peer.SendAsync(Rfb.U32(0));
            await peer.ReceiveAsync(1);
            await peer.SendAsync(Rfb.ServerInit(1024, 768, name));
            await peer.DrainAsync();
        });
        Assert.Equal(RfbHealth.Up, result.Health);
        Assert.Equal(80, result.ServerInit!.Name.Length);
        Assert.StartsWith("evil?]0;title??xxx", result.ServerInit.Name, StringComparison.Ordinal);
        Assert.EndsWith("x…", result.ServerInit.Name, StringComparison.Ordinal);
        Assert.DoesNotContain(result.Detail, char.IsControl);
    }

    [Fact]
    public async Task A_right_to_left_override_in_a_reason_cannot_reorder_a_log_line()
    {
        var result = await ProbeAsync(async peer =>
        {
            await peer.SendAsync(Rfb.Version("003.008"));
            await peer.ReceiveAsync(12);
            await peer.SendAsync([0], Rfb.String("abc\u202Efed\u2028x"));
            await peer.DrainAsync();
        });
        Assert.Equal("server refused: abc?fed?x", result.Detail);
    }

    [Fact]
    public async Task A_desktop_name_in_Latin_1_is_read_as_Latin_1()
    {
        var result = await ProbeAsync(async peer =>
        {
            await ToChallengeAsync(peer);
            await peer.SendAsync(Rfb.U32(0));
            await peer.ReceiveAsync(1);
            await peer.SendAsync(Rfb.U16(1), Rfb.U16(1), Rfb.PixelFormat, Rfb.U32(4), [(byte)'B', 0xFC, (byte)'r', (byte)'o']);
            await peer.DrainAsync();
        });
        Assert.Equal("Büro", result.ServerInit!.Name);
    }

    [Fact]
    public async Task HandshakeAsync_throws_an_RfbException_that_says_how_the_server_is_unusable()
    {
        await using var server = new ScriptedRfbServer(async peer =>
        {
            await ToChallengeAsync(peer);
            await peer.SendAsync(Rfb.U32(1), Rfb.String("Authentication failure"));
            await peer.DrainAsync();
        });
        await using var stream = await server.ConnectAsync();
        var e = await Assert.ThrowsAsync<RfbException>(() => RfbProbe.HandshakeAsync(stream, Password, CancellationToken.None).WaitAsync(Limit));
        Assert.Equal(RfbHealth.AuthBroken, e.Health);
        Assert.Equal("password rejected: Authentication failure", e.Message);
    }

    [Fact]
    public async Task The_probe_throws_only_for_its_own_cancellation()
    {
        await using var server = new ScriptedRfbServer(peer => peer.DrainAsync()); // says nothing
        await using var stream = await server.ConnectAsync();
        using var cancel = new CancellationTokenSource();
        var probe = RfbProbe.ProbeAsync(stream, Password, cancel.Token);
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => probe.WaitAsync(Limit));
    }

    [Fact]
    public async Task ProbeUnixAsync_reports_a_missing_socket_as_dead_and_names_the_path()
    {
        var path = Path.Combine(Path.GetTempPath(), $"bastion-no-such-{Guid.NewGuid():N}", "rfb.sock");
        var result = await RfbProbe.ProbeUnixAsync(path, Password, TimeSpan.FromSeconds(3), TimeProvider.System, CancellationToken.None).WaitAsync(Limit);
        Assert.Equal(new RfbProbeResult(RfbHealth.Dead, $"no socket at {path}"), result);
    }

    [Fact]
    public async Task ProbeUnixAsync_reports_a_path_too_long_for_a_socket_as_dead_rather_than_throwing()
    {
        var path = "/run/" + new string('d', 200) + "/rfb.sock";
        var result = await RfbProbe.ProbeUnixAsync(path, Password, TimeSpan.FromSeconds(3), TimeProvider.System, CancellationToken.None).WaitAsync(Limit);
        Assert.Equal(RfbHealth.Dead, result.Health);
        Assert.EndsWith(path, result.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ProbeUnixAsync_reports_a_socket_nobody_listens_on_as_connection_refused()
    {
        var dir = Directory.CreateTempSubdirectory("bastion-rfb-").FullName;
        try
        {
            var path = Path.Combine(dir, "rfb.sock");
            // Bound but not listening: what a socket file left by a killed Xvnc looks like to a client (.NET would
            // unlink the file when this socket is disposed, so it stays open during the probe).
            using var stale = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            stale.Bind(new UnixDomainSocketEndPoint(path));
            var result = await RfbProbe.ProbeUnixAsync(path, Password, TimeSpan.FromSeconds(3), TimeProvider.System, CancellationToken.None).WaitAsync(Limit);
            Assert.Equal(new RfbProbeResult(RfbHealth.Dead, $"connection refused at {path}"), result);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task ProbeUnixAsync_runs_the_whole_handshake()
    {
        await using var server = new ScriptedRfbServer(async peer =>
        {
            await ToChallengeAsync(peer);
            await peer.SendAsync(Rfb.U32(0));
            await peer.ReceiveAsync(1);
            await peer.SendAsync(Rfb.ServerInit(1280, 800, "desk"));
            await peer.DrainAsync();
        });
        var result = await RfbProbe.ProbeUnixAsync(server.SocketPath, Password, TimeSpan.FromSeconds(3), TimeProvider.System, CancellationToken.None).WaitAsync(Limit);
        Assert.Equal("up: 1280x800 'desk'", result.Describe());
        await server.CompletionAsync();
    }

    [Fact]
    public async Task ProbeUnixAsync_gives_up_when_the_clock_passes_the_timeout_and_says_where_it_waited()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 23, 0, 0, 0, TimeSpan.Zero));
        var versionAnswered = new TaskCompletionSource();
        await using var server = new ScriptedRfbServer(async peer =>
        {
            await peer.SendAsync(Rfb.Version("003.008"));
            await peer.ReceiveAsync(12);
            versionAnswered.SetResult();
            await peer.DrainAsync(); // and never sends the security types
        });
        var probe = RfbProbe.ProbeUnixAsync(server.SocketPath, Password, TimeSpan.FromSeconds(3), time, CancellationToken.None);
        await versionAnswered.Task.WaitAsync(Limit);
        await Task.Delay(50); // the client is now (or very soon) waiting for the security types

        time.Advance(TimeSpan.FromMilliseconds(2999));
        await Task.Delay(50);
        Assert.False(probe.IsCompleted);
        time.Advance(TimeSpan.FromMilliseconds(1));
        var result = await probe.WaitAsync(Limit);
        Assert.Equal(new RfbProbeResult(RfbHealth.Dead, "no answer within 3s (during the security handshake)"), result);
    }

    [Fact]
    public async Task ProbeUnixAsync_throws_for_the_callers_cancellation_rather_than_calling_it_a_timeout()
    {
        await using var server = new ScriptedRfbServer(peer => peer.DrainAsync());
        using var cancel = new CancellationTokenSource();
        var probe = RfbProbe.ProbeUnixAsync(server.SocketPath, Password, TimeSpan.FromSeconds(30), TimeProvider.System, cancel.Token);
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => probe.WaitAsync(Limit));
    }
}
