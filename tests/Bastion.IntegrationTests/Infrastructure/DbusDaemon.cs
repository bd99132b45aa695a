using System.Diagnostics;
using Xunit.Abstractions;

namespace Bastion.IntegrationTests.Infrastructure;

/// <summary>
/// A private dbus-daemon: <c>dbus-daemon --config-file=CONF --print-address --nofork</c> listening on a unix:path socket in a
/// temp dir of its own. Its config (scripts/lib/private-system-bus.conf.in) is the system bus's default policy (deny method calls and name ownership unless a
/// policy file allows them) plus an <c>&lt;include&gt;</c> of the shipped <c>systemd/org.bastion.Bastion1.conf</c>, so
/// tests exercise the very policy that is installed. The directory is 0755 so the unprivileged test users can reach the
/// socket. Killed on dispose (log dumped); <see cref="KillAsync"/> and <see cref="StartAsync()"/> simulate a bus outage
/// on the same address.
/// </summary>
internal sealed class DbusDaemon : IAsyncDisposable
{
    /// <summary>The bus config, shared with scripts/bench/dbus-status.sh.</summary>
    private static string ConfigTemplate => Path.Combine(Binaries.RepositoryRoot, "scripts", "lib", "private-system-bus.conf.in");

    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(15);
    private readonly ITestOutputHelper _output;
    private readonly string _dir;
    private readonly string _config;
    private Process? _process;

    private DbusDaemon(ITestOutputHelper output, bool permissive)
    {
        _output = output;
        _dir = Directory.CreateTempSubdirectory("bastion-dbus-").FullName;
        File.SetUnixFileMode(_dir, (UnixFileMode)0b111_101_101);
        SocketPath = Path.Combine(_dir, "bus");
        Address = "unix:path=" + SocketPath;
        _config = Path.Combine(_dir, "bus.conf");
        var policy = PolicyFile;
        if (permissive)
        {
            // Instead of the shipped policy: anybody may own any name and call anything (what the daemon's own gate is for).
            policy = Path.Combine(_dir, "allow-everything.conf");
            File.WriteAllText(policy, "<busconfig><policy context=\"default\"><allow own=\"*\"/><allow send_type=\"method_call\"/>"
                + "<allow send_destination=\"*\"/></policy></busconfig>\n");
        }
        File.WriteAllText(_config, File.ReadAllText(ConfigTemplate)
            .Replace("@LISTEN@", Address, StringComparison.Ordinal)
            .Replace("@POLICY@", policy, StringComparison.Ordinal));
    }

    public static string PolicyFile => Path.Combine(Binaries.RepositoryRoot, "systemd", "org.bastion.Bastion1.conf");

    public string SocketPath { get; }
    public string Address { get; }
    private readonly List<ProcessOutput> _logs = [];

    /// <summary>For bastionctl: finds the daemon on "the system bus", as it would on a server.</summary>
    public IReadOnlyDictionary<string, string> ClientEnvironment => new Dictionary<string, string> { ["DBUS_SYSTEM_BUS_ADDRESS"] = Address };

    /// <summary>The bastiond config section that puts the daemon on this bus.</summary>
    public string ConfigSection => $"dbus:\n  bus: address\n  address: {Address}\n";

    /// <summary>Starts a bus with the shipped policy, or with <paramref name="permissive"/> one that allows everything to everybody.</summary>
    public static async Task<DbusDaemon> StartAsync(ITestOutputHelper output, bool permissive = false)
    {
        // The policy names the group: dbus-daemon ignores rules for a group that does not exist.
        await TestUsers.EnsureAsync();
        var daemon = new DbusDaemon(output, permissive);
        try
        {
            await daemon.StartAsync();
        }
        catch
        {
            await daemon.DisposeAsync();
            throw;
        }
        return daemon;
    }

    /// <summary>Starts (again) on the same address; returns once it printed its address, i.e. listens.</summary>
    public async Task StartAsync()
    {
        var psi = new ProcessStartInfo("dbus-daemon")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add("--config-file=" + _config);
        psi.ArgumentList.Add("--print-address");
        psi.ArgumentList.Add("--nofork");
        // Each start gets its own output, so a restart waits for its own address line, not the previous one.
        _process = Process.Start(psi) ?? throw new InvalidOperationException("cannot start dbus-daemon (is the dbus package installed?)");
        var log = new ProcessOutput();
        _logs.Add(log);
        log.Attach(_process, "dbus-daemon: ");
        await log.WaitForLineAsync(l => l.StartsWith("dbus-daemon: unix:path=" + SocketPath, StringComparison.Ordinal), Patience, "dbus-daemon's address");
    }

    public async Task KillAsync()
    {
        if (_process is { HasExited: false })
        {
            _process.Kill();
            await _process.WaitForExitAsync().WaitAsync(Patience);
        }
    }

    public bool IsRunning => _process is { HasExited: false };

    /// <summary>busctl --address=… ARGS, as root (the test process).</summary>
    public Task<CommandResult> BusctlAsync(params string[] args) =>
        ExternalCommand.RunAsync("busctl", ["--address=" + Address, .. args], Patience);

    /// <summary>gdbus ARGS --address … (gdbus prints error names: GDBus.Error:NAME: message).</summary>
    public Task<CommandResult> GdbusCallAsync(string method, params string[] args) =>
        ExternalCommand.RunAsync("gdbus",
            ["call", "--address", Address, "--dest", "org.bastion.Bastion1", "--object-path", "/org/bastion/Bastion1",
             "--method", "org.bastion.Bastion1." + method, .. args], Patience);

    /// <summary>Runs a command as a test user (setpriv: real and effective uid/gid, groups from /etc/group or none).</summary>
    public static Task<CommandResult> AsUserAsync(string user, string command, params string[] args) =>
        ExternalCommand.RunAsync("setpriv",
            ["--reuid=" + user, "--regid=" + user, user == TestUsers.Admin ? "--init-groups" : "--clear-groups", "--", command, .. args],
            Patience);

    public async ValueTask DisposeAsync()
    {
        try
        {
            await KillAsync();
        }
        finally
        {
            _output.WriteLine("---- dbus-daemon log ----");
            foreach (var line in _logs.SelectMany(l => l.Lines))
            {
                _output.WriteLine(line);
            }
            _process?.Dispose();
            try
            {
                Directory.Delete(_dir, recursive: true);
            }
            catch (IOException)
            {
                // the OS temp cleaner gets it
            }
        }
    }
}

/// <summary>
/// The accounts the policy tests run busctl/gdbus as, created on first use when missing (tests run as root, like CI):
/// the group <c>bastion-admin</c> (what scripts/install.sh creates on a server), <c>bastion-test-user</c> (in no group of
/// ours) and <c>bastion-test-admin</c> (a member of bastion-admin). System accounts without a home or a login shell.
/// </summary>
internal static class TestUsers
{
    public const string AdminGroup = "bastion-admin";
    public const string Unprivileged = "bastion-test-user";
    public const string Admin = "bastion-test-admin";

    private static readonly SemaphoreSlim Gate = new(1, 1);

    public static async Task EnsureAsync()
    {
        await Gate.WaitAsync(TimeSpan.FromSeconds(60));
        try
        {
            if (!await ExistsAsync("group", AdminGroup))
            {
                await RunAsync("groupadd", "--system", AdminGroup);
            }
            if (!await ExistsAsync("passwd", Unprivileged))
            {
                await RunAsync("useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "--user-group", Unprivileged);
            }
            if (!await ExistsAsync("passwd", Admin))
            {
                await RunAsync("useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "--user-group", "--groups", AdminGroup, Admin);
            }
        }
        finally
        {
            Gate.Release();
        }
    }

    private static async Task<bool> ExistsAsync(string database, string name) =>
        (await ExternalCommand.RunAsync("getent", [database, name], TimeSpan.FromSeconds(10))).ExitCode == 0;

    private static async Task RunAsync(string command, params string[] args)
    {
        var result = await ExternalCommand.RunAsync(command, args, TimeSpan.FromSeconds(30));
        if (result.ExitCode != 0)
        {
            throw new InvalidOperationException($"cannot create the policy test accounts (tests run as root):\n{result.Describe()}");
        }
    }
}
