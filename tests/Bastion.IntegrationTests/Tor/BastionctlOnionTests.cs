using Bastion.IntegrationTests.Cli;
using Bastion.Status;

namespace Bastion.IntegrationTests.Tor;

/// <summary>
/// <c>bastionctl onion</c> against a status.json written by the test (its pid counts as the running daemon); the round
/// trip with a real daemon and tor is in <see cref="OnionServiceTests"/>.
/// </summary>
public sealed class BastionctlOnionTests : IDisposable
{
    private const string Address = "25njqamcweflpvkl73j4szahhihoc4xt3ktcgjnpaingr5yhkenl5sid.onion";
    private readonly TemporaryRuntimeDirectory _runtime = new();

    public void Dispose() => _runtime.Dispose();

    private static ComponentStatus Onion(string name, Dictionary<string, string> details) =>
        Snapshots.Component("onion", name, "Running", "reachable at " + Address, DateTimeOffset.UtcNow) with { Details = details };

    [Fact]
    public async Task Onion_prints_the_address_state_and_a_ready_to_paste_ssh_command()
    {
        _runtime.Write(Snapshots.Daemon(Environment.ProcessId,
        [
            Snapshots.Component("tor", "tor", "Running", "bootstrapped 100%; SocksPort 127.0.0.1:9350", DateTimeOffset.UtcNow),
            Onion("ssh", new() { ["address"] = Address, ["state"] = "reachable", ["ports"] = "22->127.0.0.1:22", ["clients"] = "anyone with the address" }),
            Onion("web", new() { ["address"] = Address, ["state"] = "published", ["ports"] = "2222->127.0.0.1:2222" }),
        ]));

        var run = await Bastionctl.RunAsync("onion", "--runtime-dir", _runtime.Path, "--user", "admin", "--socks", "127.0.0.1:9150");

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Contains("tor      Running: bootstrapped 100%", run.Stdout, StringComparison.Ordinal);
        Assert.Contains($"  address  {Address}", run.Stdout, StringComparison.Ordinal);
        Assert.Contains("  state    reachable — Running", run.Stdout, StringComparison.Ordinal);
        Assert.Contains($"  ssh      ssh -o ProxyCommand='nc -X 5 -x 127.0.0.1:9150 %h %p' admin@{Address}", run.Stdout, StringComparison.Ordinal);
        Assert.Contains($"ssh -o ProxyCommand='nc -X 5 -x 127.0.0.1:9150 %h %p' -p 2222 admin@{Address}", run.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Onion_without_onion_services_says_so()
    {
        _runtime.Write(Snapshots.Daemon(Environment.ProcessId, []));
        var run = await Bastionctl.RunAsync("onion", "--runtime-dir", _runtime.Path);
        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Contains("no onion services configured", run.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Client_add_with_two_services_and_no_service_option_asks_which_and_writes_nothing()
    {
        var clients = Path.Combine(_runtime.Path, "clients");
        _runtime.Write(Snapshots.Daemon(Environment.ProcessId,
        [
            Onion("ssh", new() { ["address"] = Address, ["clientsDir"] = clients }),
            Onion("web", new() { ["address"] = Address, ["clientsDir"] = clients }),
        ]));
        var run = await Bastionctl.RunAsync("onion", "client", "add", "alice", "--runtime-dir", _runtime.Path);
        Assert.Equal(2, run.ExitCode);
        Assert.Contains("say which with --service NAME", run.Stderr, StringComparison.Ordinal);
        Assert.Equal("", run.Stdout);
        Assert.False(Directory.Exists(clients));
    }

    [Theory]
    [InlineData("../escape")]
    [InlineData(".hidden")]
    [InlineData("a b")]
    public async Task Client_add_refuses_a_name_that_is_not_a_plain_file_name(string name)
    {
        _runtime.Write(Snapshots.Daemon(Environment.ProcessId, [Onion("ssh", new() { ["address"] = Address, ["clientsDir"] = _runtime.Path })]));
        var run = await Bastionctl.RunAsync("onion", "client", "add", name, "--runtime-dir", _runtime.Path);
        Assert.Equal(2, run.ExitCode);
        Assert.Contains("is not a client name", run.Stderr, StringComparison.Ordinal);
        Assert.Equal("", run.Stdout);
    }

    [Fact]
    public async Task Client_remove_of_an_unknown_client_fails_and_says_where_config_clients_are_removed()
    {
        _runtime.Write(Snapshots.Daemon(Environment.ProcessId, [Onion("ssh", new() { ["address"] = Address, ["clientsDir"] = _runtime.Path })]));
        var run = await Bastionctl.RunAsync("onion", "client", "remove", "bob", "--runtime-dir", _runtime.Path);
        Assert.Equal(1, run.ExitCode);
        Assert.Contains("no client 'bob'", run.Stderr, StringComparison.Ordinal);
        Assert.Contains("editing the config", run.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Client_remove_of_the_last_client_is_refused_without_force_and_says_the_onion_would_become_public()
    {
        var clients = Path.Combine(_runtime.Path, "clients");
        Directory.CreateDirectory(clients);
        var file = Path.Combine(clients, "alice.auth");
        await File.WriteAllTextAsync(file, "descriptor:x25519:" + Bastion.Tor.OnionClientKeys.Generate().PublicKey + "\n");
        _runtime.Write(Snapshots.Daemon(Environment.ProcessId,
            [Onion("ssh", new() { ["address"] = Address, ["clientsDir"] = clients, ["clients"] = "alice" })]));

        var run = await Bastionctl.RunAsync("onion", "client", "remove", "alice", "--runtime-dir", _runtime.Path);

        Assert.Equal(1, run.ExitCode);
        Assert.Contains("'alice' is the last authorized client of 'ssh'", run.Stderr, StringComparison.Ordinal);
        Assert.Contains("reachable by anyone who knows the address", run.Stderr, StringComparison.Ordinal);
        Assert.Contains("--force", run.Stderr, StringComparison.Ordinal);
        Assert.True(File.Exists(file), "nothing may change without --force");
    }

    [Fact]
    public async Task Status_of_a_daemon_whose_config_turns_dbus_off_says_so_instead_of_a_bus_connection_error()
    {
        var config = Path.Combine(_runtime.Path, "bastion.yaml");
        await File.WriteAllTextAsync(config, "dbus:\n  bus: none\n");
        var snapshot = Snapshots.Daemon(Environment.ProcessId, []);
        _runtime.Write(snapshot with { Daemon = snapshot.Daemon with { ConfigPath = config } });

        var run = await Bastionctl.RunAsync("status", "--runtime-dir", _runtime.Path);

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Contains($"D-Bus off in the config (dbus.bus: none in {config})", run.Stdout + run.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("cannot connect", run.Stdout + run.Stderr, StringComparison.Ordinal);
    }
}
