using Bastion.IntegrationTests.Infrastructure;
using Xunit.Abstractions;

namespace Bastion.IntegrationTests.Tor;

/// <summary>
/// bastiond's managed tor with <c>DisableNetwork 1</c>: no network at all, yet ADD_ONION, key persistence and the
/// safety checks are real. Fast: no private network needed.
/// </summary>
public sealed class OfflineTorTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    private static string Config(string extra = "      - DisableNetwork 1\n") =>
        "dbus:\n  bus: none\nonion:\n  tor:\n"
        + $"    socksPort: 127.0.0.1:{FreePort.Pick()}\n    extraConfig:\n{extra}"
        + "  services:\n    - name: ssh\n      ports:\n        - {virtual: 22, target: \"127.0.0.1:22\"}\n";

    private static async Task<string> WaitForAddressAsync(BastiondProcess daemon) =>
        (await daemon.WaitForStatusAsync(s => s.Components.Any(c => c.Kind == "onion" && c.Details.ContainsKey("address")), "an onion address", Patience))
            .Components.Single(c => c.Kind == "onion").Details["address"];

    [Fact]
    public async Task The_onion_key_is_created_once_kept_0600_and_gives_the_same_address_after_a_daemon_restart()
    {
        await using var first = new BastiondProcess(output);
        first.WriteConfig(Config());
        await first.StartAndWaitReadyAsync(TorNetwork.DaemonEnvironment);
        var address = await WaitForAddressAsync(first);
        var keyFile = Path.Combine(first.StateDir, "onion", "ssh", "onion.key");
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(keyFile));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(Path.Combine(first.StateDir, "tor", "data")));
        var keyText = await File.ReadAllTextAsync(keyFile);
        Assert.Contains("address: " + address, keyText, StringComparison.Ordinal);
        var tor = first.ReadStatus().Components.Single(c => c.Kind == "tor");
        Assert.Equal(first.ReadStatus().Components.Single(c => c.Kind == "tor").Details["socksPort"], tor.Details["socksPort"]);
        Assert.True(tor.Details.ContainsKey("controlPort") && tor.Details.ContainsKey("pid") && tor.Details.ContainsKey("bootstrap"));
        first.Signal(Posix.SIGTERM);
        Assert.Equal(0, await first.WaitForExitAsync(Patience));

        // Same state dir, new daemon: same address, the file untouched.
        await using var second = new BastiondProcess(output);
        Directory.Move(first.StateDir, second.StateDir);
        second.WriteConfig(Config());
        await second.StartAndWaitReadyAsync(TorNetwork.DaemonEnvironment);
        Assert.Equal(address, await WaitForAddressAsync(second));
        Assert.Equal(keyText, await File.ReadAllTextAsync(Path.Combine(second.StateDir, "onion", "ssh", "onion.key")));
        Assert.DoesNotContain("created a new key", second.Log.ToString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("truncated key", "key: ED25519-V3:AAAA")]
    [InlineData("no address", "garbage")]
    public async Task A_damaged_key_file_is_a_clear_error_and_never_a_new_address(string what, string damage)
    {
        _ = what;
        await using var daemon = new BastiondProcess(output);
        var dir = Path.Combine(daemon.StateDir, "onion", "ssh");
        Directory.CreateDirectory(dir);
        var keyFile = Path.Combine(dir, "onion.key");
        var text = "address: 25njqamcweflpvkl73j4szahhihoc4xt3ktcgjnpaingr5yhkenl5sid.onion\n" + damage + "\n";
        await File.WriteAllTextAsync(keyFile, text);
        File.SetUnixFileMode(keyFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        daemon.WriteConfig(Config());
        await daemon.StartAndWaitReadyAsync(TorNetwork.DaemonEnvironment);

        var status = await daemon.WaitForStatusAsync(
            s => s.Components.Any(c => c.Kind == "onion" && c.Reason.Contains("is damaged", StringComparison.Ordinal)), "the damaged key reported", Patience);
        var onion = status.Components.Single(c => c.Kind == "onion");
        Assert.Contains(keyFile, onion.Reason, StringComparison.Ordinal);
        Assert.Contains("restore the file from a backup", onion.Reason, StringComparison.Ordinal);
        Assert.False(onion.Details.ContainsKey("address"));
        Assert.Equal(text, await File.ReadAllTextAsync(keyFile));
        Assert.DoesNotContain("created a new key", daemon.Log.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task In_private_network_mode_the_daemon_refuses_to_start_a_tor_that_could_reach_the_public_network()
    {
        await using var daemon = new BastiondProcess(output);
        daemon.WriteConfig(Config(extra: "      - NumEntryGuards 2\n"));
        await daemon.StartAndWaitReadyAsync(TorNetwork.DaemonEnvironment);
        var status = await daemon.WaitForStatusAsync(
            s => s.Components.Any(c => c.Kind == "tor" && c.Reason.Contains("refusing to start tor", StringComparison.Ordinal)), "tor refused", Patience);
        Assert.Contains("could reach the public Tor network", status.Components.Single(c => c.Kind == "tor").Reason, StringComparison.Ordinal);
        Assert.DoesNotContain("starting tor:", daemon.Log.ToString(), StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(daemon.StateDir, "tor", "torrc")));
    }

    [Fact]
    public async Task With_onion_tor_control_the_daemon_uses_an_existing_tor_and_starts_none_of_its_own()
    {
        await using var daemon = new BastiondProcess(output);
        await using var tor = await OfflineTorProcess.StartAsync(daemon.Root.File("existing-tor"), output);
        daemon.WriteConfig("dbus:\n  bus: none\nonion:\n  tor:\n"
            + $"    control: {tor.ControlPort}\n    cookieFile: {tor.CookieFile}\n    socksPort: 127.0.0.1:{FreePort.Pick()}\n"
            + "  services:\n    - name: ssh\n");
        await daemon.StartAndWaitReadyAsync(TorNetwork.DaemonEnvironment);

        Assert.EndsWith(".onion", await WaitForAddressAsync(daemon), StringComparison.Ordinal);
        var status = daemon.ReadStatus().Components.Single(c => c.Kind == "tor");
        Assert.Equal(tor.ControlPort, status.Details["controlPort"]);
        Assert.False(status.Details.ContainsKey("pid"));
        Assert.False(Directory.Exists(Path.Combine(daemon.StateDir, "tor")));

        daemon.Signal(Posix.SIGTERM);
        Assert.Equal(0, await daemon.WaitForExitAsync(Patience));
        Assert.True(tor.IsRunning, "bastiond must not stop a tor it does not own");
    }
}
