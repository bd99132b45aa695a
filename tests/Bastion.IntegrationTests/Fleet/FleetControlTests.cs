using Bastion.IntegrationTests.Infrastructure;
using Bastion.IntegrationTests.Vnc;
using Xunit.Abstractions;

namespace Bastion.IntegrationTests.Fleet;

/// <summary>
/// <c>reload</c> and <c>vnc start|stop|auto</c> sent through a real nats-server with <c>bastionctl fleet send</c>: the same
/// effect as over D-Bus (a real config file re-read, a real Xvnc desktop raised and lowered), answered with a signed reply.
/// </summary>
public sealed class FleetControlTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task A_reload_through_the_fleet_applies_the_changed_config_and_a_broken_one_is_refused_with_its_reason_in_the_signed_reply()
    {
        await using var broker = await NatsServer.StartAsync(output);
        await using var node = await FleetNode.StartRunningAsync(output, broker);
        const string Added = "added-by-fleet-reload";
        var changed = node.ConfigBody.Replace("checks:\n", $"checks:\n  - name: {Added}\n    endpoint: 127.0.0.1:{FreePort.Pick()}\n    interval: 1s\n    timeout: 800ms\n    failures: 2\n", StringComparison.Ordinal);
        Assert.NotEqual(node.ConfigBody, changed);
        node.Daemon.WriteConfig(changed);

        var reload = await node.SendAsync("reload");

        Assert.True(reload.ExitCode == 0, reload.ToString() + "\n" + node.Daemon.Log);
        Assert.Equal("web1: ok: reloaded\n", reload.Stdout);
        await node.Daemon.WaitForStatusAsync(s => s.Components.Any(c => c.Name == Added), "the added check in status", Patience);

        // Broken: the added check's interval is no duration. The reply carries the located error; the last good config stays.
        node.Daemon.WriteConfig(changed.Replace("interval: 1s", "interval: soon", StringComparison.Ordinal));
        var broken = await node.SendAsync("reload");

        Assert.True(broken.ExitCode == 1, broken.ToString());
        Assert.StartsWith("web1: failed: reload refused: ", broken.Stdout, StringComparison.Ordinal);
        Assert.Matches($@"{System.Text.RegularExpressions.Regex.Escape(node.Daemon.ConfigPath)}:\d+:\d+: checks\[0\]\.interval: ", broken.Stdout);
        var kept = node.Daemon.ReadStatus();
        Assert.Contains(kept.Components, c => c.Name == Added);
        Assert.Contains(kept.Components, c => c.Name == FleetNode.CheckName);
        Assert.Equal("Running", kept.Components.Single(c => c.Name == "nats").State);
        // The fleet link was not rebuilt by either reload (its section did not change): still answering.
        var status = await node.SendAsync("status");
        Assert.True(status.ExitCode == 0, status.ToString());
    }

    [Fact]
    public async Task Vnc_stop_start_for_a_while_and_auto_through_the_fleet_lower_and_raise_the_real_desktop()
    {
        await using var broker = await NatsServer.StartAsync(output);
        using var adminFiles = new TempRoot("fleet-admin-");
        var admin = await AdminKey.CreateAsync(adminFiles, "alice_ed25519");
        // The fleet section goes after the vnc keys, as its own top-level section.
        await using var vnc = await VncTestDaemon.StartAsync(output, "always", vncExtra: FleetNode.FleetSection(adminFiles, broker, admin, statusInterval: "10m"));
        var node = await FleetNode.AttachAsync(vnc.Daemon, admin, broker); // the daemon is the desktop's to dispose
        await vnc.WaitRaisedAsync();
        await vnc.Daemon.WaitForComponentAsync("nats", "Running", Patience);

        var stop = await node.SendAsync("vnc", "stop");
        Assert.True(stop.ExitCode == 0, stop.ToString() + "\n" + vnc.Daemon.Log);
        Assert.StartsWith("web1: ok: ", stop.Stdout, StringComparison.Ordinal);
        var lowered = await vnc.WaitAsync(s => VncTestDaemon.Desktop(s) is { State: "Standby" } d && d.Details["desired"] == "lowered" && d.Details["xvncPid"] == "-",
            "the desktop lowered by the fleet's vnc stop", Patience);
        Assert.Equal("stop", VncTestDaemon.Desktop(lowered).Details["override"]);

        var start = await node.SendAsync("vnc", "start", "--for", "10m");
        Assert.True(start.ExitCode == 0, start.ToString());
        Assert.StartsWith("web1: ok: ", start.Stdout, StringComparison.Ordinal);
        var port = await vnc.WaitRaisedAsync(Patience);
        Assert.StartsWith("start until ", VncTestDaemon.Desktop(vnc.Daemon.ReadStatus()).Details["override"], StringComparison.Ordinal);
        await using (var viewer = await vnc.ConnectAsync(port))
        {
            var init = await viewer.HandshakeAsync(vnc.PasswordInUse).WaitAsync(Patience);
            Assert.Equal(VncTestDaemon.Geometry, $"{init.Width}x{init.Height}");
        }

        await node.SendAsync("vnc", "stop");
        await vnc.WaitAsync(s => VncTestDaemon.Desktop(s).Details["desired"] == "lowered", "lowered again", Patience);
        var auto = await node.SendAsync("vnc", "auto");
        Assert.True(auto.ExitCode == 0, auto.ToString());
        // Back to the policy: mode always raises it, with no override left.
        await vnc.WaitRaisedAsync(Patience);
        Assert.Equal("none", VncTestDaemon.Desktop(vnc.Daemon.ReadStatus()).Details["override"]);
        Assert.Contains(vnc.Daemon.Log.Lines, l => l.Contains("fleet: command 'vnc' accepted, signed by SHA256:", StringComparison.Ordinal));
    }
}
