using Bastion.IntegrationTests.Infrastructure;
using Xunit.Abstractions;

namespace Bastion.IntegrationTests.Tls;

/// <summary>
/// The use cases of the session CA, one test each, with real processes on both ends: bastiond (the server) and
/// bastionctl connect (the admin or a friend), relaying to an echo backend.
/// </summary>
public sealed class TlsUseCaseTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Forward_the_server_listens_and_the_admin_connects_with_both_certificates_checked()
    {
        using var pki = new TestPki();
        await using var backend = EchoBackend.Tcp();
        var (daemon, port) = await TlsDaemon.StartListeningAsync(output, TlsConfig.Endpoint(pki, backend.Address));
        await using var _ = daemon;
        await using var connect = await ConnectProcess.ForwardAsync(output, $"127.0.0.1:{port}", pki.Admin, pki.CaPath);

        Assert.Equal("forward through mutual TLS", await connect.RoundTripAsync("forward through mutual TLS"));

        var accepted = await daemon.WaitForLogAsync("tls/vnc: accepted");
        Assert.Contains($"subject CN=admin serial {pki.Admin.Entry.Serial}", accepted, StringComparison.Ordinal);
        await connect.Log.WaitForLineAsync(l => l.Contains($"server CN=srv serial {pki.Server.Entry.Serial}", StringComparison.Ordinal), Patience, "server checked");
        var status = await daemon.WaitForStatusAsync(s => TlsDaemon.Endpoint(s, "vnc")!.Details.GetValueOrDefault("accepted") == "1", "accepted 1");
        Assert.Contains("CN=admin", TlsDaemon.Endpoint(status, "vnc")!.Details["lastPeer"], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Client_reconnects_after_disconnecting_while_the_server_keeps_running()
    {
        using var pki = new TestPki();
        await using var backend = EchoBackend.Tcp();
        var (daemon, port) = await TlsDaemon.StartListeningAsync(output, TlsConfig.Endpoint(pki, backend.Address));
        await using var _ = daemon;

        await using (var first = await ConnectProcess.ForwardAsync(output, $"127.0.0.1:{port}", pki.Admin, pki.CaPath))
        {
            Assert.Equal("first", await first.RoundTripAsync("first"));
        }
        await using var second = await ConnectProcess.ForwardAsync(output, $"127.0.0.1:{port}", pki.Admin, pki.CaPath);
        Assert.Equal("second", await second.RoundTripAsync("second"));

        var status = await daemon.WaitForStatusAsync(s => TlsDaemon.Endpoint(s, "vnc")!.Details.GetValueOrDefault("accepted") == "2", "accepted 2");
        var endpoint = TlsDaemon.Endpoint(status, "vnc")!;
        Assert.Equal(1, endpoint.Starts); // never restarted
        Assert.Equal("Running", endpoint.State);
    }

    [Fact]
    public async Task Friend_connects_with_a_copy_of_the_admins_certificate_and_key()
    {
        using var pki = new TestPki();
        var copy = pki.Admin with { CertificatePath = pki.Scratch("friend-copy.crt"), KeyPath = pki.Scratch("friend-copy.key") };
        File.Copy(pki.Admin.CertificatePath, copy.CertificatePath);
        File.Copy(pki.Admin.KeyPath, copy.KeyPath);
        await using var backend = EchoBackend.Tcp();
        var (daemon, port) = await TlsDaemon.StartListeningAsync(output, TlsConfig.Endpoint(pki, backend.Address));
        await using var _ = daemon;
        await using var admin = await ConnectProcess.ForwardAsync(output, $"127.0.0.1:{port}", pki.Admin, pki.CaPath);
        await using var friend = await ConnectProcess.ForwardAsync(output, $"127.0.0.1:{port}", copy, pki.CaPath);

        Assert.Equal("admin", await admin.RoundTripAsync("admin"));
        Assert.Equal("friend", await friend.RoundTripAsync("friend"));
        await daemon.WaitForStatusAsync(s => TlsDaemon.Endpoint(s, "vnc")!.Details.GetValueOrDefault("accepted") == "2", "both accepted");
    }

    [Fact]
    public async Task Friends_connect_with_their_own_new_certificates_from_the_session_CA()
    {
        using var pki = new TestPki();
        var friends = Enumerable.Range(1, 3).Select(i => pki.Client($"friend{i}")).ToList();
        await using var backend = EchoBackend.Tcp();
        var (daemon, port) = await TlsDaemon.StartListeningAsync(output, TlsConfig.Endpoint(pki, backend.Address));
        await using var _ = daemon;

        foreach (var friend in friends)
        {
            await using var connect = await ConnectProcess.ForwardAsync(output, $"127.0.0.1:{port}", friend, pki.CaPath);
            Assert.Equal(friend.Entry.Name, await connect.RoundTripAsync(friend.Entry.Name));
            await daemon.WaitForLogAsync($"subject CN={friend.Entry.Name} serial {friend.Entry.Serial}");
        }
    }

    [Fact]
    public async Task Reverse_the_admin_listens_and_the_server_connects_out_with_both_certificates_checked()
    {
        using var pki = new TestPki();
        await using var backend = EchoBackend.Tcp();
        await using var admin = await ConnectProcess.ListenAsync(output, "127.0.0.1:0", pki.Admin, pki.CaPath);
        await using var daemon = new BastiondProcess(output, TlsConfig.Endpoint(pki, backend.Address, mode: "dial", address: $"127.0.0.1:{admin.ListenPort}"));
        await daemon.StartAndWaitReadyAsync();

        await admin.Log.WaitForLineAsync(l => l.Contains($"server CN=srv serial {pki.Server.Entry.Serial}", StringComparison.Ordinal), Patience, "server phoned home");
        Assert.Equal("reverse", await admin.RoundTripAsync("reverse"));
        Assert.Contains($"subject CN=admin serial {pki.Admin.Entry.Serial}", await daemon.WaitForLogAsync("tls/vnc: accepted"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Server_phones_home_every_interval_until_a_listener_accepts()
    {
        using var pki = new TestPki();
        await using var backend = EchoBackend.Tcp();
        var home = FreePort.Pick();
        await using var daemon = new BastiondProcess(output, TlsConfig.Endpoint(pki, backend.Address, mode: "dial", address: $"127.0.0.1:{home}"));
        await daemon.StartAndWaitReadyAsync();

        // Nobody listens yet: the endpoint keeps trying at its 1s interval and says so; that is its normal state.
        var waiting = await daemon.WaitForStatusAsync(s => int.Parse(TlsDaemon.Endpoint(s, "vnc")!.Details.GetValueOrDefault("attempts", "0"), System.Globalization.CultureInfo.InvariantCulture) >= 3, "3 attempts");
        var endpoint = TlsDaemon.Endpoint(waiting, "vnc")!;
        Assert.Equal("Running", endpoint.State);
        Assert.StartsWith($"dialing: no listener at 127.0.0.1:{home} since ", endpoint.Reason, StringComparison.Ordinal);
        Assert.Equal(1, endpoint.Starts);

        await using var admin = await ConnectProcess.ListenAsync(output, $"127.0.0.1:{home}", pki.Admin, pki.CaPath);
        await admin.Log.WaitForLineAsync(l => l.Contains("server CN=srv", StringComparison.Ordinal), Patience, "server phoned home");
        Assert.Equal("home", await admin.RoundTripAsync("home"));
        await daemon.WaitForComponentAsync("vnc", "Running");
    }

    [Fact]
    public async Task Server_phones_a_friend_who_listens_after_the_admin_left()
    {
        using var pki = new TestPki();
        var friend = pki.Client("friend");
        await using var backend = EchoBackend.Tcp();
        var home = FreePort.Pick();
        await using var daemon = new BastiondProcess(output, TlsConfig.Endpoint(pki, backend.Address, mode: "dial", address: $"127.0.0.1:{home}"));
        await daemon.StartAndWaitReadyAsync();

        await using (var admin = await ConnectProcess.ListenAsync(output, $"127.0.0.1:{home}", pki.Admin, pki.CaPath, "--once"))
        {
            Assert.Equal("admin", await admin.RoundTripAsync("admin"));
            Assert.Equal(0, await admin.WaitForExitAsync(Patience));
        }
        await using var friendEnd = await ConnectProcess.ListenAsync(output, $"127.0.0.1:{home}", friend, pki.CaPath);
        await friendEnd.Log.WaitForLineAsync(l => l.Contains("server CN=srv", StringComparison.Ordinal), Patience, "server phoned the friend");
        Assert.Equal("friend", await friendEnd.RoundTripAsync("friend"));
        await daemon.WaitForLogAsync($"subject CN=friend serial {friend.Entry.Serial}");
    }

    [Fact]
    public async Task A_unix_socket_backend_is_relayed_like_a_tcp_one()
    {
        using var pki = new TestPki();
        await using var backend = EchoBackend.Unix(pki.Scratch("rfb.sock"));
        var (daemon, port) = await TlsDaemon.StartListeningAsync(output, TlsConfig.Endpoint(pki, backend.Address));
        await using var _ = daemon;
        await using var connect = await ConnectProcess.ForwardAsync(output, $"127.0.0.1:{port}", pki.Admin, pki.CaPath);

        var big = new string('v', 3 * 1024 * 1024); // several relay buffers, both ways at once
        Assert.Equal(big, await connect.RoundTripAsync(big));
        await daemon.WaitForLogAsync($"bytes in, {big.Length} bytes out");
    }
}
