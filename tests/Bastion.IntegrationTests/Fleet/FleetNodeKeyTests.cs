using Bastion.IntegrationTests.Cli;
using Bastion.IntegrationTests.Infrastructure;
using Xunit.Abstractions;

namespace Bastion.IntegrationTests.Fleet;

/// <summary>
/// The fleet node key as bastiond creates it and bastionctl prints it; ssh-keygen is the judge of the format.
/// (No broker yet: the fleet section only creates the key in this version.)
/// </summary>
public sealed class FleetNodeKeyTests(ITestOutputHelper output)
{
    private const string AdminKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIqI4910CfGV/VLbLTy6XXLKZwm/HZQSG/N0iAG0D29c";

    private static string FleetSection(BastiondProcess daemon) =>
        // A loopback port nobody serves: the node key is what these tests look at; no test reaches beyond loopback.
        $"fleet:\n  node: web1\n  servers: [ \"nats://127.0.0.1:{FreePort.Pick()}\" ]\n" +
        $"  allowedSigners: {daemon.Root.Write("allowed_signers", $"alice@example.org {AdminKey}\n")}\n";

    private static string NodeKey(BastiondProcess daemon) => Path.Combine(daemon.StateDir, "fleet", "node_key");

    [Fact]
    public async Task The_first_start_creates_a_private_node_key_that_bastionctl_prints_and_ssh_keygen_reads_and_a_restart_keeps_it()
    {
        await using var daemon = new BastiondProcess(output, "");
        daemon.WriteConfig(FleetSection(daemon));
        await daemon.StartAndWaitReadyAsync();

        var path = NodeKey(daemon);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(Path.GetDirectoryName(path)!));
        var printed = await Bastionctl.RunAsync("--config", daemon.ConfigPath, "fleet", "node-key");
        Assert.True(printed.ExitCode == 0, printed.ToString());
        var derived = await ExternalCommand.RunAsync("ssh-keygen", ["-y", "-f", path], TimeSpan.FromSeconds(30));
        Assert.True(derived.ExitCode == 0, derived.Describe());
        var publicKey = string.Join(' ', derived.StdOut.Trim().Split(' ').Take(2));
        Assert.Equal($"web1 {publicKey}", printed.Stdout.Trim());
        var fingerprint = await ExternalCommand.RunAsync("sh", ["-c", $"ssh-keygen -y -f {path} | ssh-keygen -l -f -"], TimeSpan.FromSeconds(30));
        Assert.Contains(daemon.Log.Lines, l => l.Contains("node key for web1 created: " + fingerprint.StdOut.Split(' ')[1], StringComparison.Ordinal));
        var secretLines = File.ReadAllLines(path).Where(l => !l.StartsWith("-----", StringComparison.Ordinal)).ToList();
        Assert.DoesNotContain(daemon.Log.Lines, l => secretLines.Any(s => l.Contains(s, StringComparison.Ordinal)));

        daemon.Signal(15);
        Assert.Equal(0, await daemon.WaitForExitAsync(BastiondProcess.Patience));
        var before = File.ReadAllText(path);
        await using var again = new BastiondProcess(output, "");
        again.WriteConfig(FleetSection(again));
        Directory.CreateDirectory(again.StateDir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        Directory.CreateDirectory(Path.Combine(again.StateDir, "fleet"), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        File.Copy(path, NodeKey(again));
        File.SetUnixFileMode(NodeKey(again), UnixFileMode.UserRead | UnixFileMode.UserWrite);
        await again.StartAndWaitReadyAsync();
        Assert.Equal(before, File.ReadAllText(NodeKey(again)));
        Assert.Contains(again.Log.Lines, l => l.Contains("node key for web1 is " + fingerprint.StdOut.Split(' ')[1], StringComparison.Ordinal));
    }

    [Fact]
    public async Task An_exposed_node_key_is_reported_and_every_other_way_in_still_starts()
    {
        await using var daemon = new BastiondProcess(output, "");
        daemon.WriteConfig(FleetSection(daemon));
        Directory.CreateDirectory(Path.Combine(daemon.StateDir, "fleet"));
        File.SetUnixFileMode(daemon.StateDir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        File.WriteAllText(NodeKey(daemon), "not a key");
        File.SetUnixFileMode(NodeKey(daemon), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead);

        await daemon.StartAndWaitReadyAsync();

        Assert.Contains(daemon.Log.Lines, l => l.Contains("accessible by others", StringComparison.Ordinal) && l.Contains("chmod 600", StringComparison.Ordinal));
        Assert.Equal("not a key", File.ReadAllText(NodeKey(daemon)));
        var printed = await Bastionctl.RunAsync("--config", daemon.ConfigPath, "fleet", "node-key");
        Assert.True(printed.ExitCode == 1, printed.ToString());
    }

    [Fact]
    public async Task Without_a_node_key_bastionctl_says_who_creates_it_and_fails()
    {
        using var root = new TempRoot("bastionctl-fleet-");

        var run = await Bastionctl.RunAsync("fleet", "node-key", "--state-dir", root.Path, "--node", "web1");

        Assert.True(run.ExitCode == 1, run.ToString());
        Assert.Contains("bastiond creates the node key on its first start", run.Stderr, StringComparison.Ordinal);
    }
}
