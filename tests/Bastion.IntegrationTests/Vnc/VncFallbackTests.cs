using System.Diagnostics;
using Bastion.IntegrationTests.Infrastructure;
using Bastion.IntegrationTests.Tls;
using Xunit.Abstractions;

namespace Bastion.IntegrationTests.Vnc;

/// <summary>vnc.mode fallback against a real sshd: raised when sshd dies, lowered after the grace once it is back.</summary>
public sealed class VncFallbackTests(ITestOutputHelper output)
{
    [Fact]
    public async Task When_sshd_dies_an_mTLS_client_completes_VNC_authentication_within_5_seconds_and_sees_a_drawn_desktop()
    {
        using var root = new TempRoot();
        await using var sshd = await Sshd.StartAsync(root.Path, output);
        await using var vnc = await VncTestDaemon.StartAsync(output, "fallback", sshd.Port);
        var lowered = await vnc.WaitAsync(s => VncTestDaemon.Desktop(s).State == "Standby" && VncTestDaemon.Endpoint(s).State != "Starting"
            && VncTestDaemon.Desktop(s).Details.GetValueOrDefault("sshd", "-").StartsWith("ok:", StringComparison.Ordinal), "desktop Standby with sshd ok");
        Assert.Equal("lowered", VncTestDaemon.Desktop(lowered).Details["desired"]);
        Assert.Equal("-", VncTestDaemon.Desktop(lowered).Details["xvncPid"]);
        Assert.Equal("Standby", VncTestDaemon.Endpoint(lowered).State); // no listener while sshd is fine
        Assert.False(File.Exists($"/tmp/.X{vnc.Display}-lock"));

        await sshd.KillAsync();
        var clock = Stopwatch.StartNew();
        await using var client = await ConnectWhenRaisedAsync(vnc, TimeSpan.FromSeconds(15));
        var init = await client.HandshakeAsync(VncTestDaemon.Password);
        var elapsed = clock.Elapsed;
        output.WriteLine($"sshd killed → ServerInit over mTLS in {elapsed.TotalSeconds:F2} s");
        Assert.True(elapsed < TimeSpan.FromSeconds(5), $"VNC reachable only after {elapsed.TotalSeconds:F2} s (the issue asks for 5 s with a 1 s probe)\n{vnc.Daemon.Log}");
        Assert.Equal((320, 240), (init.Width, init.Height));
        Assert.StartsWith("Bastion emergency desktop on ", init.Name, StringComparison.Ordinal);

        var (_, uniform) = await client.ReadFramebufferAsync(TimeSpan.FromSeconds(15));
        Assert.False(uniform, "the framebuffer stayed one flat colour: the session's xterm never appeared");
        var opened = await vnc.Daemon.WaitForLogAsync("VNC session opened by");
        Assert.Contains($"tls/vnc: VNC session opened by CN=admin serial {vnc.Pki.Admin.Entry.Serial} from 127.0.0.1:", opened, StringComparison.Ordinal);
        var raised = VncTestDaemon.Desktop(await vnc.WaitAsync(s => VncTestDaemon.Desktop(s).State == "Running", "desktop Running"));
        Assert.StartsWith("raised: check/sshd failed 2 probes in a row", raised.Reason, StringComparison.Ordinal);
        Assert.Equal("raised", raised.Details["desired"]);
    }

    [Fact]
    public async Task When_sshd_is_back_the_desktop_is_lowered_after_the_grace_period_but_never_while_a_client_is_connected()
    {
        using var root = new TempRoot();
        await using var sshd = await Sshd.StartAsync(root.Path, output);
        await using var vnc = await VncTestDaemon.StartAsync(output, "fallback", sshd.Port, grace: "2s");
        await vnc.WaitAsync(s => VncTestDaemon.Desktop(s).State == "Standby" && VncTestDaemon.Desktop(s).Details["sshd"].StartsWith("ok:", StringComparison.Ordinal), "sshd seen ok");
        await sshd.KillAsync();
        var client = await ConnectWhenRaisedAsync(vnc, TimeSpan.FromSeconds(20));
        await client.HandshakeAsync(VncTestDaemon.Password);
        var xvnc = VncTestDaemon.Pid(VncTestDaemon.Desktop(vnc.Daemon.ReadStatus()), "xvncPid")!.Value;

        await sshd.RestartAsync();
        var healthy = await vnc.WaitAsync(s => VncTestDaemon.Desktop(s).Details["sshd"].StartsWith("ok:", StringComparison.Ordinal), "sshd ok again");
        await Task.Delay(TimeSpan.FromSeconds(4)); // twice the grace: it would have been lowered by now without the client
        var held = VncTestDaemon.Desktop(vnc.Daemon.ReadStatus());
        Assert.True(held.State == "Running", $"lowered under a connected client: {held.State}: {held.Reason}\n{vnc.Daemon.Log}");
        Assert.Contains("lowering once", held.Reason, StringComparison.Ordinal);
        Assert.Equal("1", held.Details["clients"]);
        Assert.True(VncTestDaemon.IsAlive(xvnc));
        var (_, uniform) = await client.ReadFramebufferAsync(TimeSpan.FromSeconds(10)); // the session still works
        Assert.False(uniform);
        _ = healthy;

        await client.DisposeAsync(); // the admin leaves
        var down = await vnc.WaitAsync(s => VncTestDaemon.Desktop(s).State == "Standby" && VncTestDaemon.Endpoint(s).State == "Standby", "lowered after the client left", TimeSpan.FromSeconds(15));
        Assert.Equal("-", VncTestDaemon.Desktop(down).Details["xvncPid"]);
        await WaitUntilAsync(() => !VncTestDaemon.IsAlive(xvnc), "Xvnc stopped after lowering");
        await vnc.Daemon.WaitForLogAsync("vnc/desktop: lowering the emergency desktop: lowered: check/sshd");
    }

    /// <summary>Tries the endpoint as soon as status shows it listening, and again until a TLS session is up.</summary>
    internal static async Task<RfbTlsClient> ConnectWhenRaisedAsync(VncTestDaemon vnc, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            if (ReadPort(vnc) is { } port)
            {
                try
                {
                    return await vnc.ConnectAsync(port);
                }
                catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException && DateTime.UtcNow < deadline)
                {
                    // the listener went between reading status and connecting; try again
                }
            }
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"tls/vnc never listened\n{vnc.Daemon.Log}");
            }
            await Task.Delay(20);
        }
    }

    private static int? ReadPort(VncTestDaemon vnc)
    {
        try
        {
            return int.TryParse(VncTestDaemon.Endpoint(vnc.Daemon.ReadStatus()).Details.GetValueOrDefault("boundPort"), out var port) ? port : null;
        }
        catch (Exception e) when (e is IOException or System.Text.Json.JsonException or InvalidDataException)
        {
            return null; // not written yet
        }
    }

    internal static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException(what);
            }
            await Task.Delay(50);
        }
    }
}
