using System.Globalization;
using Bastion.Api;
using Bastion.IntegrationTests.Infrastructure;
using Xunit.Abstractions;

namespace Bastion.IntegrationTests.DBus;

/// <summary>
/// The daemon's own gate for mutating calls, on a private bus whose policy allows everything to everybody (as a session bus,
/// a private address or a broken policy file would): only root and the members of <c>dbus.adminGroup</c> may restart, reload
/// or control the desktop. The accounts are made for the test (a group of its own, a member and a non-member) and removed after.
/// </summary>
public sealed class AdminGateTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const string AccessDenied = "org.freedesktop.DBus.Error.AccessDenied";
    private readonly string _suffix = Guid.NewGuid().ToString("N")[..6];

    private string Group => "bgate-g" + _suffix;
    private string Member => "bgate-a" + _suffix;
    private string Outsider => "bgate-u" + _suffix;

    public async Task InitializeAsync()
    {
        await RunAsync("groupadd", "--system", Group);
        await RunAsync("useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "--user-group", "--groups", Group, Member);
        await RunAsync("useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "--user-group", Outsider);
    }

    public async Task DisposeAsync()
    {
        // Best effort, each on its own: a failed step must not leave the others behind.
        await ExternalCommand.RunAsync("userdel", [Member], TimeSpan.FromSeconds(30));
        await ExternalCommand.RunAsync("userdel", [Outsider], TimeSpan.FromSeconds(30));
        await ExternalCommand.RunAsync("groupdel", [Group], TimeSpan.FromSeconds(30));
    }

    [Fact]
    public async Task On_a_bus_that_allows_everything_a_user_outside_the_admin_group_may_read_but_not_restart_reload_or_control_vnc()
    {
        await using var env = await BastionOnBus.StartAsync(output, BastionOnBus.DeadCheck("web"), permissiveBus: true, adminGroup: Group);
        var uid = await UidAsync(Outsider);

        var status = await BusctlAsAsync(env, Outsider, "GetStatus");
        var restart = await BusctlAsAsync(env, Outsider, "RestartComponent", "ss", "check", "web");
        var reload = await BusctlAsAsync(env, Outsider, "Reload");
        var vnc = await BusctlAsAsync(env, Outsider, "ControlVnc", "stb", "stop", "0", "true");
        var ctl = await DbusDaemon.AsUserAsync(Outsider, "env",
            ["DBUS_SYSTEM_BUS_ADDRESS=" + env.Bus.Address, Binaries.Bastionctl, "restart", "web", "--runtime-dir", env.Daemon.RuntimeDir]);

        Assert.True(status.ExitCode == 0, status.Describe());
        foreach (var denied in new[] { restart, reload, vnc })
        {
            // busctl words AccessDenied as the errno it maps to; gdbus below shows the name and the daemon's message.
            Assert.True(denied.ExitCode != 0 && denied.StdErr.Contains("Access denied", StringComparison.Ordinal), denied.Describe());
        }
        Assert.True(ctl.ExitCode != 0, ctl.Describe());
        Assert.Contains($"{Group}; {Outsider} (uid {uid}) is neither", ctl.StdErr + ctl.StdOut, StringComparison.Ordinal);
        Assert.Equal(1, env.Daemon.ReadStatus().Components.Single().Starts);
        await env.Daemon.Log.WaitForLineAsync(
            l => l.Contains($"dbus: RestartComponent check/web refused for uid {uid} ({Outsider}) pid ", StringComparison.Ordinal),
            BastiondProcess.Patience, "the refusal logged with the caller");
        Assert.DoesNotContain(env.Daemon.Log.Lines, l => l.Contains("requested by", StringComparison.Ordinal));
        // The AccessDenied error name reaches the caller unchanged.
        var gdbus = await DbusDaemon.AsUserAsync(Outsider, "gdbus",
            ["call", "--address", env.Bus.Address, "--dest", BastionApi.BusName, "--object-path", BastionApi.ObjectPath,
             "--method", BastionApi.Interface + ".Reload"]);
        Assert.Contains($"GDBus.Error:{AccessDenied}: Reload needs root or a member of the group {Group}; {Outsider} (uid {uid}) is neither",
            gdbus.StdErr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task On_a_bus_that_allows_everything_a_member_of_the_configured_admin_group_may_restart_and_reload()
    {
        await using var env = await BastionOnBus.StartAsync(output, BastionOnBus.DeadCheck("web"), permissiveBus: true, adminGroup: Group);
        var before = env.Daemon.ReadStatus().Components.Single().Instance;
        var uid = await UidAsync(Member);

        var restart = await BusctlAsAsync(env, Member, "RestartComponent", "ss", "check", "web");
        var reload = await BusctlAsAsync(env, Member, "Reload");

        Assert.True(restart.ExitCode == 0, restart.Describe());
        Assert.Matches(@"^s ""[0-9a-f]{12}""", restart.StdOut);
        Assert.True(reload.ExitCode == 0, reload.Describe());
        Assert.Equal("bas true 0", reload.StdOut.Trim());
        await env.Daemon.WaitForStatusAsync(s => s.Components.Single().Instance != before, "the restart carried out");
        await env.Daemon.Log.WaitForLineAsync(
            l => l.Contains($"dbus: RestartComponent check/web requested by uid {uid} ({Member}) pid ", StringComparison.Ordinal),
            BastiondProcess.Patience, "the request logged with the caller");
    }

    private static Task<CommandResult> BusctlAsAsync(BastionOnBus env, string user, string method, params string[] args) =>
        DbusDaemon.AsUserAsync(user, "busctl",
            ["--address=" + env.Bus.Address, "call", BastionApi.BusName, BastionApi.ObjectPath, BastionApi.Interface, method, .. args]);

    private static async Task<uint> UidAsync(string user)
    {
        var id = await ExternalCommand.RunAsync("id", ["-u", user], TimeSpan.FromSeconds(15));
        Assert.True(id.ExitCode == 0, id.Describe());
        return uint.Parse(id.StdOut.Trim(), CultureInfo.InvariantCulture);
    }

    private static async Task RunAsync(string command, params string[] args)
    {
        var result = await ExternalCommand.RunAsync(command, args, TimeSpan.FromSeconds(30));
        Assert.True(result.ExitCode == 0, result.Describe());
    }
}
