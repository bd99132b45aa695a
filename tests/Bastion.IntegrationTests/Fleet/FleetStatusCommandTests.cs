using System.Text.Json;
using Bastion.Fleet;
using Bastion.IntegrationTests.Cli;
using Bastion.IntegrationTests.Infrastructure;
using Xunit.Abstractions;

namespace Bastion.IntegrationTests.Fleet;

/// <summary>
/// <c>bastionctl fleet status</c> against a real bastiond publishing through a real nats-server: what the admin sees, and
/// what it refuses when the broker's copy is not the node's own.
/// </summary>
public sealed class FleetStatusCommandTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    private static Task<BastionctlRun> FleetStatusAsync(FleetNode node, string nodesFile, string keyFile, params string[] extra) =>
        Bastionctl.RunAsync(["fleet", "status", "--servers", node.Broker.Url, "--nodes", nodesFile, "--key", keyFile, .. extra]);

    [Fact]
    public async Task Fleet_status_shows_the_node_fresh_with_its_summary_and_its_whole_status_in_json()
    {
        await using var broker = await NatsServer.StartAsync(output);
        await using var node = await FleetNode.StartAsync(output, broker);
        await node.WaitForStatusEntryAsync();

        var table = await FleetStatusAsync(node, node.NodesFile, node.Admin.PrivatePath);

        Assert.True(table.ExitCode == 0, table.ToString());
        var row = table.Stdout.Split('\n').Single(l => l.StartsWith(FleetNode.Node + " ", StringComparison.Ordinal));
        Assert.Contains(" fresh ", row, StringComparison.Ordinal);
        Assert.Contains(" ago ", row, StringComparison.Ordinal);
        Assert.Contains("checks 0/1 up", row, StringComparison.Ordinal);

        var json = await FleetStatusAsync(node, node.NodesFile, node.Admin.PrivatePath, "--json");
        Assert.True(json.ExitCode == 0, json.ToString());
        using var doc = JsonDocument.Parse(json.Stdout);
        var entry = doc.RootElement.GetProperty("nodes").EnumerateArray().Single();
        Assert.Equal(FleetNode.Node, entry.GetProperty("node").GetString());
        Assert.Equal("Fresh", entry.GetProperty("state").GetString());
        Assert.Equal(node.Daemon.Pid, entry.GetProperty("status").GetProperty("daemon").GetProperty("pid").GetInt32());
        Assert.Contains(entry.GetProperty("status").GetProperty("components").EnumerateArray(),
            c => c.GetProperty("name").GetString() == FleetNode.CheckName);
    }

    [Fact]
    public async Task A_tampered_or_forged_entry_in_the_bucket_is_refused_and_never_shown_as_the_nodes_status()
    {
        await using var broker = await NatsServer.StartAsync(output);
        // A long interval: the node does not overwrite the broker's forgery before bastionctl reads it.
        await using var node = await FleetNode.StartAsync(output, broker, statusInterval: "10m");
        var (value, _) = await node.WaitForStatusEntryAsync();

        var tampered = (byte[])value.Clone();
        tampered[tampered.Length / 2] ^= 0x01;
        await node.PutRawAsync(tampered);
        var run = await FleetStatusAsync(node, node.NodesFile, node.Admin.PrivatePath);
        Assert.True(run.ExitCode == 1, run.ToString());
        Assert.Contains("refused", run.Stdout, StringComparison.Ordinal);
        Assert.Contains("altered on the way", run.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("checks 0/1 up", run.Stdout, StringComparison.Ordinal);

        // A well-formed status for the admin, but signed by a key that is not this node's: the broker's own forgery.
        using var forger = Ed25519PrivateKey.Generate();
        using var admin = node.Admin.Load();
        var now = DateTimeOffset.UtcNow;
        var forged = FleetSeal.SealReport(new FleetReport(FleetReportKind.Status, FleetNode.Node, [], "{\"all\":\"fine\"}",
            new byte[16], now, now + TimeSpan.FromMinutes(5)), forger, [admin.PublicKey]);
        await node.PutRawAsync(forged);
        run = await FleetStatusAsync(node, node.NodesFile, node.Admin.PrivatePath);
        Assert.True(run.ExitCode == 1, run.ToString());
        Assert.Contains("signed by a key other than this node's key", run.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("fine", run.Stdout, StringComparison.Ordinal);

        // The node's own next status is accepted again (replaced by the original, as the node would at its next interval).
        await node.PutRawAsync(value);
        run = await FleetStatusAsync(node, node.NodesFile, node.Admin.PrivatePath);
        Assert.True(run.ExitCode == 0, run.ToString());
    }

    [Fact]
    public async Task An_admin_whose_key_the_node_does_not_list_cannot_read_its_status()
    {
        await using var broker = await NatsServer.StartAsync(output);
        await using var node = await FleetNode.StartAsync(output, broker);
        await node.WaitForStatusEntryAsync();
        var stranger = await AdminKey.CreateAsync(node.Daemon.Root, "mallory_ed25519");

        var run = await FleetStatusAsync(node, node.NodesFile, stranger.PrivatePath);

        Assert.True(run.ExitCode == 1, run.ToString());
        Assert.Contains("not encrypted to your key", run.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("checks 0/1 up", run.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_node_silent_for_three_intervals_is_flagged_and_a_listed_node_without_status_is_missing()
    {
        await using var broker = await NatsServer.StartAsync(output);
        await using var node = await FleetNode.StartAsync(output, broker, statusInterval: "1s");
        await node.WaitForStatusEntryAsync();
        using var other = Ed25519PrivateKey.Generate();
        var nodes = node.Daemon.Root.Write("nodes-two", File.ReadAllText(node.NodesFile) + $"db1 {other.PublicKey}\n");

        await node.StopAsync();
        // Three intervals of 1s, whole seconds on the wire, and margin for a loaded machine.
        await Task.Delay(TimeSpan.FromSeconds(6));

        var run = await FleetStatusAsync(node, nodes, node.Admin.PrivatePath);

        Assert.True(run.ExitCode == 1, run.ToString());
        var web1 = run.Stdout.Split('\n').Single(l => l.StartsWith("web1 ", StringComparison.Ordinal));
        Assert.Contains(" silent ", web1, StringComparison.Ordinal);
        Assert.Contains("SILENT", web1, StringComparison.Ordinal);
        Assert.Contains(" ago ", web1, StringComparison.Ordinal);
        var db1 = run.Stdout.Split('\n').Single(l => l.StartsWith("db1 ", StringComparison.Ordinal));
        Assert.Contains(" missing ", db1, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_unreachable_broker_is_exit_code_3_with_the_address()
    {
        await using var broker = await NatsServer.StartAsync(output);
        await using var node = await FleetNode.StartAsync(output, broker);
        await broker.KillAsync();

        var run = await FleetStatusAsync(node, node.NodesFile, node.Admin.PrivatePath);

        Assert.True(run.ExitCode == 3, run.ToString());
        Assert.Contains("cannot reach the broker " + broker.Url, run.Stderr, StringComparison.Ordinal);
    }
}
