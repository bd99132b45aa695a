using Bastion.IntegrationTests.Infrastructure;
using System.Text.RegularExpressions;
using Bastion.Api;
using Xunit.Abstractions;

namespace Bastion.IntegrationTests.DBus;

/// <summary>
/// The shipped policy (systemd/org.bastion.Bastion1.conf) on a private bus, with real accounts (see <see cref="TestUsers"/>):
/// everybody may read, only root and the bastion-admin group may restart, reload or control the emergency desktop, only root
/// may own the name.
/// </summary>
public sealed partial class DbusPolicyTests(ITestOutputHelper output)
{
    private const string AccessDenied = "org.freedesktop.DBus.Error.AccessDenied";

    [Fact]
    public async Task An_unprivileged_caller_may_read_the_status_but_is_denied_restart_reload_and_vnc_control()
    {
        await using var env = await BastionOnBus.StartAsync(output, BastionOnBus.DeadCheck("web"));

        var status = await Gdbus(env, TestUsers.Unprivileged, "GetStatus");
        var list = await Gdbus(env, TestUsers.Unprivileged, "ListComponents");
        var property = await DbusDaemon.AsUserAsync(TestUsers.Unprivileged, "busctl", "--address=" + env.Bus.Address,
            "get-property", BastionApi.BusName, BastionApi.ObjectPath, BastionApi.Interface, "Status");
        var restart = await Gdbus(env, TestUsers.Unprivileged, "RestartComponent", "check", "web");
        var reload = await Gdbus(env, TestUsers.Unprivileged, "Reload");
        // This daemon has no desktop: a call the policy let through would be answered VncNotConfigured, not AccessDenied.
        var vnc = await Gdbus(env, TestUsers.Unprivileged, "ControlVnc", "stop", "0", "true");

        Assert.True(status.ExitCode == 0, status.Describe());
        Assert.StartsWith("('running', ", status.StdOut, StringComparison.Ordinal);
        Assert.True(list.ExitCode == 0, list.Describe());
        Assert.True(property.ExitCode == 0, property.Describe());
        Assert.True(restart.ExitCode != 0 && restart.StdErr.Contains("GDBus.Error:" + AccessDenied, StringComparison.Ordinal), restart.Describe());
        Assert.True(reload.ExitCode != 0 && reload.StdErr.Contains("GDBus.Error:" + AccessDenied, StringComparison.Ordinal), reload.Describe());
        Assert.True(vnc.ExitCode != 0 && vnc.StdErr.Contains("GDBus.Error:" + AccessDenied, StringComparison.Ordinal), vnc.Describe());
        Assert.Equal(1, env.Daemon.ReadStatus().Components.Single().Starts);
        Assert.DoesNotContain(env.Daemon.Log.Lines, l => l.Contains("requested by", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_member_of_bastion_admin_and_root_may_restart_and_reload()
    {
        await using var env = await BastionOnBus.StartAsync(output, BastionOnBus.DeadCheck("web"));
        var first = env.Daemon.ReadStatus().Components.Single().Instance;

        var adminRestart = await Gdbus(env, TestUsers.Admin, "RestartComponent", "check", "web");
        var adminReload = await Gdbus(env, TestUsers.Admin, "Reload");
        var rootRestart = await env.Bus.GdbusCallAsync("RestartComponent", "check", "web");
        var rootReload = await env.CtlAsync("reload");

        Assert.True(adminRestart.ExitCode == 0, adminRestart.Describe());
        Assert.Matches(@"^\('[0-9a-f]{12}',\)", adminRestart.StdOut);
        Assert.DoesNotContain(first, adminRestart.StdOut, StringComparison.Ordinal);
        Assert.True(adminReload.ExitCode == 0, adminReload.Describe());
        Assert.Equal("(true, @as [])", adminReload.StdOut.Trim());
        Assert.True(rootRestart.ExitCode == 0, rootRestart.Describe());
        Assert.True(rootReload.ExitCode == 0, rootReload.ToString());
        // The audit trail: every mutating call names the account and process behind it, not just a bus name.
        var adminUid = await ExternalCommand.RunAsync("id", ["-u", TestUsers.Admin], TimeSpan.FromSeconds(15));
        Assert.True(adminUid.ExitCode == 0, adminUid.Describe());
        var asAdmin = $"uid {adminUid.StdOut.Trim()} ({TestUsers.Admin}) pid ";
        await AuditLineAsync(env, "RestartComponent check/web", asAdmin);
        await AuditLineAsync(env, "Reload " + env.Daemon.ConfigPath, asAdmin);
        await AuditLineAsync(env, "RestartComponent check/web", "uid 0 (root) pid ");
        await AuditLineAsync(env, "Reload " + env.Daemon.ConfigPath, "uid 0 (root) pid ");
    }

    private static Task<string> AuditLineAsync(BastionOnBus env, string what, string caller) =>
        env.Daemon.Log.WaitForLineAsync(l => Requested(l, what, caller), BastiondProcess.Patience, $"{what} requested by {caller}…");

    private static bool Requested(string line, string what, string caller) =>
        line.Contains($"dbus: {what} requested by {caller}", StringComparison.Ordinal)
        && AuditCaller().IsMatch(line[(line.IndexOf(caller, StringComparison.Ordinal) + caller.Length)..]);

    /// <summary>What follows "pid ": a real pid, then the caller's unique bus name.</summary>
    [GeneratedRegex(@"^[1-9][0-9]* :1\.[0-9]+$")]
    private static partial Regex AuditCaller();

    [Fact]
    public async Task Only_root_may_own_the_name()
    {
        await using var bus = await DbusDaemon.StartAsync(output);

        string[] requestName = ["call", "--address", bus.Address, "--dest", "org.freedesktop.DBus", "--object-path", "/org/freedesktop/DBus",
            "--method", "org.freedesktop.DBus.RequestName", BastionApi.BusName, "4"];
        var user = await DbusDaemon.AsUserAsync(TestUsers.Unprivileged, "gdbus", requestName);
        var admin = await DbusDaemon.AsUserAsync(TestUsers.Admin, "gdbus", requestName);
        var root = await bus.BusctlAsync("call", "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "RequestName", "su", BastionApi.BusName, "4");

        const string Denied = "GDBus.Error:org.freedesktop.DBus.Error.AccessDenied: Connection";
        Assert.True(user.ExitCode != 0 && user.StdErr.Contains(Denied, StringComparison.Ordinal)
            && user.StdErr.Contains("is not allowed to own the service \"org.bastion.Bastion1\"", StringComparison.Ordinal), user.Describe());
        Assert.True(admin.ExitCode != 0 && admin.StdErr.Contains(Denied, StringComparison.Ordinal), admin.Describe());
        Assert.True(root.ExitCode == 0, root.Describe());
        Assert.Equal("u 1", root.StdOut.Trim()); // DBUS_REQUEST_NAME_REPLY_PRIMARY_OWNER
    }

    private static Task<CommandResult> Gdbus(BastionOnBus env, string user, string method, params string[] args) =>
        DbusDaemon.AsUserAsync(user, "gdbus",
            ["call", "--address", env.Bus.Address, "--dest", BastionApi.BusName, "--object-path", BastionApi.ObjectPath,
             "--method", BastionApi.Interface + "." + method, .. args]);
}
