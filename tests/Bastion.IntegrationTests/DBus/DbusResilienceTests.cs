using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Bastion.IntegrationTests.Infrastructure;
using Bastion.Api;
using Xunit.Abstractions;

namespace Bastion.IntegrationTests.DBus;

/// <summary>The bus going away and hostile callers: the daemon keeps running, re-registers by itself, and answers with D-Bus errors.</summary>
public sealed class DbusResilienceTests(ITestOutputHelper output)
{
    [Fact]
    public async Task After_dbus_daemon_is_killed_and_restarted_the_daemon_re_registers_and_bastionctl_works_again()
    {
        await using var env = await BastionOnBus.StartAsync(output, BastionOnBus.DeadCheck("web"));

        await env.Bus.KillAsync();
        await env.Daemon.Log.WaitForLineAsync(l => l.Contains("dbus: lost the connection", StringComparison.Ordinal), BastiondProcess.Patience, "lost");
        var during = await env.CtlAsync("status", "--json");
        await env.Bus.StartAsync();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        BastionctlRunSummary? last = null;
        while (DateTime.UtcNow < deadline)
        {
            var run = await env.CtlAsync("status", "--json");
            last = new(run.ExitCode, run.Stdout, run.Stderr);
            if (run.ExitCode == 0 && JsonDocument.Parse(run.Stdout).RootElement.GetProperty("source").GetString() == "dbus")
            {
                break;
            }
            await Task.Delay(200);
        }
        var restart = await env.CtlAsync("restart", "web");

        Assert.True(during.ExitCode == 0, during.ToString());
        Assert.Equal("status-file", JsonDocument.Parse(during.Stdout).RootElement.GetProperty("source").GetString());
        Assert.True(last is { ExitCode: 0 } && last.Stdout.Contains("\"source\": \"dbus\"", StringComparison.Ordinal),
            $"bastionctl never got the status over D-Bus again: {last}\ndaemon log:\n{env.Daemon.Log}");
        Assert.True(restart.ExitCode == 0, restart.ToString());
        Assert.False(env.Daemon.Process.HasExited);
    }

    [Fact]
    public async Task Without_a_bus_the_daemon_still_becomes_ready_and_logs_why_the_api_is_missing()
    {
        var address = "unix:path=" + Path.Combine(Path.GetTempPath(), "bastion-no-bus-" + Guid.NewGuid().ToString("N"), "bus");
        await using var daemon = new BastiondProcess(output, $"dbus:\n  bus: address\n  address: {address}\n" + BastionOnBus.DeadCheck("web"));

        await daemon.StartAndWaitReadyAsync();
        var line = await daemon.Log.WaitForLineAsync(l => l.Contains($"dbus: cannot connect to the bus at {address}", StringComparison.Ordinal),
            BastiondProcess.Patience, "the missing bus logged");

        Assert.Contains(" WRN ", line, StringComparison.Ordinal);
        Assert.Equal("running", daemon.ReadStatus().Daemon.State);
        Assert.False(daemon.Process.HasExited);
    }

    private sealed record BastionctlRunSummary(int ExitCode, string Stdout, string Stderr);

    [Fact]
    public async Task Hostile_arguments_get_named_dbus_errors_and_the_daemon_keeps_serving()
    {
        await using var env = await BastionOnBus.StartAsync(output, BastionOnBus.DeadCheck("web"));
        var huge = new string('x', 100_000);

        var unknown = await env.Bus.GdbusCallAsync("RestartComponent", "tunnel", "nope");
        var hugeName = await env.Bus.GdbusCallAsync("RestartComponent", huge, huge);
        var hugeGet = await env.Bus.GdbusCallAsync("GetComponent", "check", huge);
        var wrongTypes = await env.Bus.BusctlAsync("call", BastionApi.BusName, BastionApi.ObjectPath, BastionApi.Interface, "RestartComponent", "ix", "5", "7");
        var missing = await env.Bus.GdbusCallAsync("GetComponent", "check");
        var tooMany = await env.Bus.BusctlAsync("call", BastionApi.BusName, BastionApi.ObjectPath, BastionApi.Interface, "GetStatus", "s", "extra");
        var noMethod = await env.Bus.GdbusCallAsync("Frobnicate");
        var noProperty = await env.Bus.BusctlAsync("get-property", BastionApi.BusName, BastionApi.ObjectPath, BastionApi.Interface, "Secret");
        var setProperty = await env.Bus.BusctlAsync("set-property", BastionApi.BusName, BastionApi.ObjectPath, BastionApi.Interface, "State", "s", "stopped");

        Assert.Contains("GDBus.Error:org.bastion.Error.UnknownComponent: no component tunnel/nope", unknown.StdErr, StringComparison.Ordinal);
        Assert.Contains("GDBus.Error:org.bastion.Error.UnknownComponent: no component xxxx", hugeName.StdErr, StringComparison.Ordinal);
        Assert.Contains("(100000 characters)", hugeName.StdErr, StringComparison.Ordinal);
        Assert.True(hugeName.StdErr.Length < 1000, "the error message echoes the whole argument");
        Assert.Contains("GDBus.Error:org.bastion.Error.UnknownComponent", hugeGet.StdErr, StringComparison.Ordinal);
        Assert.NotEqual(0, wrongTypes.ExitCode);
        Assert.Contains("Invalid arguments 'ix' to call org.bastion.Bastion1.RestartComponent(), expecting 'ss'", wrongTypes.StdErr, StringComparison.Ordinal);
        Assert.Contains("GDBus.Error:org.freedesktop.DBus.Error.InvalidArgs", missing.StdErr, StringComparison.Ordinal);
        Assert.NotEqual(0, tooMany.ExitCode);
        Assert.Contains("GDBus.Error:org.freedesktop.DBus.Error.UnknownMethod", noMethod.StdErr, StringComparison.Ordinal);
        Assert.NotEqual(0, noProperty.ExitCode);
        Assert.NotEqual(0, setProperty.ExitCode);

        var after = await env.Bus.BusctlAsync("call", BastionApi.BusName, BastionApi.ObjectPath, BastionApi.Interface, "GetStatus");
        Assert.True(after.ExitCode == 0, after.Describe());
        Assert.False(env.Daemon.Process.HasExited);
        Assert.Equal("running", env.Daemon.ReadStatus().Daemon.State);
        Assert.DoesNotContain(env.Daemon.Log.Lines, l => l.Contains(" ERR ", StringComparison.Ordinal) || l.Contains(" FTL ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_restart_from_a_caller_that_left_before_it_could_be_identified_is_refused_and_logged_as_uid_unknown()
    {
        await using var env = await BastionOnBus.StartAsync(output, BastionOnBus.DeadCheck("web"));
        var before = env.Daemon.ReadStatus().Components.Single().Instance;
        var present = await UniqueNamesAsync(env);

        // Deterministic "sent and gone": the daemon is frozen (SIGSTOP, by pid) while a fire-and-forget caller sends the call and
        // disconnects; the daemon only reads the call once the bus has dropped the caller's name.
        var stop = await ExternalCommand.RunAsync("kill", ["-STOP", env.Daemon.Pid.ToString(CultureInfo.InvariantCulture)], TimeSpan.FromSeconds(15));
        Assert.True(stop.ExitCode == 0, stop.Describe());
        try
        {
            var sent = await env.Bus.BusctlAsync("call", "--expect-reply=no", BastionApi.BusName, BastionApi.ObjectPath, BastionApi.Interface,
                "RestartComponent", "ss", "check", "web");
            Assert.True(sent.ExitCode == 0, sent.Describe());
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
            while (true)
            {
                // Each listing is a new connection, the newest name; anything else not there before is the caller, still on the bus.
                var now = await UniqueNamesAsync(env);
                if (now.Where(n => n != now.Max()).All(present.Contains))
                {
                    break;
                }
                Assert.True(DateTime.UtcNow < deadline, $"the caller's name never left the bus: {string.Join(' ', now)}");
                await Task.Delay(50);
            }
        }
        finally
        {
            await ExternalCommand.RunAsync("kill", ["-CONT", env.Daemon.Pid.ToString(CultureInfo.InvariantCulture)], TimeSpan.FromSeconds(15));
        }

        // The daemon's own gate: a mutating call whose caller cannot be identified is not carried out.
        var line = await env.Daemon.Log.WaitForLineAsync(l => l.Contains("dbus: RestartComponent check/web refused for ", StringComparison.Ordinal),
            BastiondProcess.Patience, "the unattributed request refused");
        Assert.Matches(@" WRN .*refused for uid \? pid \? :1\.[0-9]+ \(it left the bus before it could be identified\): RestartComponent needs a caller the bus can identify", line);
        var status = await env.Bus.BusctlAsync("call", BastionApi.BusName, BastionApi.ObjectPath, BastionApi.Interface, "GetStatus");
        Assert.True(status.ExitCode == 0, status.Describe());
        Assert.Equal(before, env.Daemon.ReadStatus().Components.Single().Instance);
        Assert.DoesNotContain(env.Daemon.Log.Lines, l => l.Contains("requested by", StringComparison.Ordinal));
        Assert.False(env.Daemon.Process.HasExited);
    }

    /// <summary>The numbers of the unique names on the bus (":1.N"), including the listing connection's own.</summary>
    private static async Task<List<int>> UniqueNamesAsync(BastionOnBus env)
    {
        var list = await env.Bus.BusctlAsync("call", "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "ListNames");
        Assert.True(list.ExitCode == 0, list.Describe());
        return [.. Regex.Matches(list.StdOut, @":1\.([0-9]+)").Select(m => int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture))];
    }
}
