using System.Text.Json;
using System.Text.RegularExpressions;
using Bastion.IntegrationTests.Infrastructure;
using Xunit.Abstractions;

namespace Bastion.IntegrationTests.DBus;

/// <summary>Every bastionctl command round trip through the real bus to the real daemon, text and --json.</summary>
public sealed partial class BastionctlOverDbusTests(ITestOutputHelper output)
{
    [GeneratedRegex(@"dbus: RestartComponent check/web requested by uid 0 \(root\) pid [1-9][0-9]* :1\.[0-9]+$")]
    private static partial Regex RootRestartLine();

    private static readonly Regex RootRestart = RootRestartLine();

    [Fact]
    public async Task Status_and_tunnels_come_from_dbus_and_say_so()
    {
        await using var env = await BastionOnBus.StartAsync(output, BastionOnBus.DeadCheck("web"));

        var text = await env.CtlAsync("status");
        var json = await env.CtlAsync("status", "--json");
        var tunnels = await env.CtlAsync("tunnels", "--json");

        Assert.True(text.ExitCode == 0, text.ToString());
        Assert.Equal("", text.Stderr);
        Assert.Matches(@"(?m)^source\s+D-Bus \(org\.bastion\.Bastion1 on the system bus \(unix:path=", text.Stdout);
        Assert.Matches(@"(?m)^check\s+web\s+(Degraded|Failed|Starting)\s", text.Stdout);
        Assert.True(json.ExitCode == 0, json.ToString());
        var root = JsonDocument.Parse(json.Stdout).RootElement;
        Assert.Equal("dbus", root.GetProperty("source").GetString());
        Assert.Equal(JsonValueKind.Null, root.GetProperty("dbusError").ValueKind);
        Assert.False(root.GetProperty("stale").GetBoolean());
        Assert.Equal(env.Daemon.Pid, root.GetProperty("daemon").GetProperty("pid").GetInt32());
        Assert.Equal("running", root.GetProperty("daemon").GetProperty("state").GetString());
        var web = root.GetProperty("components").EnumerateArray().Single();
        Assert.Equal("check", web.GetProperty("kind").GetString());
        Assert.Equal("127.0.0.1:1", web.GetProperty("details").GetProperty("endpoint").GetString());
        Assert.Equal(1, web.GetProperty("starts").GetInt64());
        Assert.True(tunnels.ExitCode == 0, tunnels.ToString());
        Assert.Empty(JsonDocument.Parse(tunnels.Stdout).RootElement.GetProperty("components").EnumerateArray());
    }

    [Fact]
    public async Task Restart_by_bare_name_and_by_kind_and_name_makes_a_new_instance()
    {
        await using var env = await BastionOnBus.StartAsync(output, BastionOnBus.DeadCheck("web"));
        var before = env.Daemon.ReadStatus().Components.Single().Instance;

        var bare = await env.CtlAsync("restart", "web");
        var full = await env.CtlAsync("restart", "check/web", "--json");

        Assert.True(bare.ExitCode == 0, bare.ToString());
        Assert.Matches(@"^restarted check/web \(new instance [0-9a-f]{12}\)\n$", bare.Stdout);
        Assert.True(full.ExitCode == 0, full.ToString());
        var report = JsonDocument.Parse(full.Stdout).RootElement;
        Assert.Equal("check", report.GetProperty("kind").GetString());
        Assert.Equal("web", report.GetProperty("name").GetString());
        var instance = report.GetProperty("instance").GetString();
        Assert.NotEqual(before, instance);
        var after = await env.Daemon.WaitForStatusAsync(s => s.Components.Single().Instance == instance, "the new instance in status.json");
        Assert.Equal("web", after.Components.Single().Name);
        // bastionctl runs as root here: the audit line names the user and the process, not just the bus name.
        await env.Daemon.Log.WaitForLineAsync(l => RootRestart.IsMatch(l), BastiondProcess.Patience, "the request logged with its caller");
    }

    [Fact]
    public async Task Restart_of_an_unknown_name_exits_1_and_of_an_ambiguous_name_exits_2_naming_the_candidates()
    {
        using var keys = new TempRoot();
        var identity = keys.File("id_ed25519");
        var keygen = await ExternalCommand.RunAsync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", identity], TimeSpan.FromSeconds(30));
        Assert.True(keygen.ExitCode == 0, keygen.Describe());
        var tunnel = $"""
            tunnels:
              - name: web
                kind: dynamic
                server:
                  host: 127.0.0.1
                  port: 1
                  user: nobody
                  identity: {identity}
                  hostKey:
                    fingerprints:
                      - SHA256:f+MBIWY78I2QFpPR3dFB27DxF/+3SHAxu+2DvHOv1M8
                bind: 127.0.0.1:0

            """;
        await using var env = await BastionOnBus.StartAsync(output, BastionOnBus.DeadCheck("web") + tunnel);

        var unknown = await env.CtlAsync("restart", "nope");
        var ambiguous = await env.CtlAsync("restart", "web");
        var tunnels = await env.CtlAsync("tunnels", "--json");
        var chosen = await env.CtlAsync("restart", "tunnel/web");

        Assert.True(unknown.ExitCode == 1, unknown.ToString());
        Assert.Contains("no component named 'nope'", unknown.Stderr, StringComparison.Ordinal);
        Assert.True(ambiguous.ExitCode == 2, ambiguous.ToString());
        Assert.Contains("'web' names 2 components: check/web, tunnel/web", ambiguous.Stderr, StringComparison.Ordinal);
        Assert.Equal("", ambiguous.Stdout);
        Assert.Equal(["tunnel/web"], JsonDocument.Parse(tunnels.Stdout).RootElement.GetProperty("components").EnumerateArray()
            .Select(c => c.GetProperty("kind").GetString() + "/" + c.GetProperty("name").GetString()));
        Assert.True(chosen.ExitCode == 0, chosen.ToString());
        Assert.StartsWith("restarted tunnel/web", chosen.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Reload_over_dbus_answers_applied_or_refused_with_every_error()
    {
        await using var env = await BastionOnBus.StartAsync(output, BastionOnBus.DeadCheck("web"));

        env.Daemon.WriteConfig(env.Bus.ConfigSection + BastionOnBus.DeadCheck("web") + BastionOnBus.DeadCheck("db")[8..]);
        var applied = await env.CtlAsync("reload");
        env.Daemon.WriteConfig(env.Bus.ConfigSection + "checks:\n  - name: web\n    endpoint: nowhere\n    intervall: 1s\n");
        var refused = await env.CtlAsync("reload", "--json");

        Assert.True(applied.ExitCode == 0, applied.ToString());
        Assert.Equal("reloaded\n", applied.Stdout);
        Assert.Equal(["web", "db"], env.Daemon.ReadStatus().Components.Select(c => c.Name));
        Assert.True(refused.ExitCode == 1, refused.ToString());
        var report = JsonDocument.Parse(refused.Stdout).RootElement;
        Assert.False(report.GetProperty("applied").GetBoolean());
        Assert.Equal("dbus", report.GetProperty("via").GetString());
        var errors = report.GetProperty("errors").EnumerateArray().Select(e => e.GetString()!).ToList();
        Assert.Equal(2, errors.Count);
        Assert.All(errors, e => Assert.StartsWith(env.Daemon.ConfigPath + ":", e, StringComparison.Ordinal));
        Assert.Contains("reload refused", refused.Stderr, StringComparison.Ordinal);
        // Still running the last good config.
        Assert.Equal(["web", "db"], env.Daemon.ReadStatus().Components.Select(c => c.Name));
    }

    [Fact]
    public async Task Restart_without_the_bus_exits_3_and_points_at_systemctl_while_status_falls_back_to_the_file()
    {
        await using var env = await BastionOnBus.StartAsync(output, BastionOnBus.DeadCheck("web"));
        await env.Bus.KillAsync();

        var restart = await env.CtlAsync("restart", "web");
        var status = await env.CtlAsync("status", "--json");

        Assert.True(restart.ExitCode == 3, restart.ToString());
        Assert.Contains("restart needs bastiond's D-Bus API, which is not reachable", restart.Stderr, StringComparison.Ordinal);
        Assert.Contains("systemctl restart bastion", restart.Stderr, StringComparison.Ordinal);
        Assert.True(status.ExitCode == 0, status.ToString());
        var root = JsonDocument.Parse(status.Stdout).RootElement;
        Assert.Equal("status-file", root.GetProperty("source").GetString());
        Assert.Contains("cannot connect to the system bus", root.GetProperty("dbusError").GetString(), StringComparison.Ordinal);
        Assert.False(root.GetProperty("stale").GetBoolean());
    }
}
