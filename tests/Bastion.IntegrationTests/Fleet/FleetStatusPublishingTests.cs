using System.Text;
using Bastion.Fleet;
using Bastion.IntegrationTests.Infrastructure;
using Bastion.Status;
using Xunit.Abstractions;

namespace Bastion.IntegrationTests.Fleet;

/// <summary>
/// The fleet/nats component of a real bastiond against a real nats-server: the status it puts into the broker's KV
/// bucket, what the broker can see of it, and what a broker outage does to the component.
/// </summary>
public sealed class FleetStatusPublishingTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task The_node_puts_its_status_into_the_bucket_signed_by_its_key_and_readable_by_the_admin_while_the_broker_sees_only_ciphertext()
    {
        await using var broker = await NatsServer.StartAsync(output);
        await using var node = await FleetNode.StartAsync(output, broker);

        var link = await node.Daemon.WaitForComponentAsync("nats", "Running", Patience);
        Assert.Equal("fleet", link.Kind);
        Assert.Contains("connected to broker 127.0.0.1:" + broker.Port, link.Reason, StringComparison.Ordinal);
        var (value, _) = await node.WaitForStatusEntryAsync();

        Assert.Equal(-1, value.AsSpan().IndexOf(Encoding.UTF8.GetBytes(FleetNode.CheckName)));
        Assert.Equal(-1, value.AsSpan().IndexOf("components"u8));
        Assert.Equal(-1, value.AsSpan().IndexOf("bastion-fleet-status@v1"u8));
        using var admin = node.Admin.Load();
        var opened = FleetSeal.OpenReport(value, FleetNode.Node, node.NodeKey, admin, DateTimeOffset.UtcNow);
        Assert.True(opened.Accepted, opened.Outcome.ToString());
        Assert.Equal(FleetReportKind.Status, opened.Message!.Kind);
        var status = StatusFile.Deserialize(opened.Message.Body);
        Assert.NotNull(status);
        Assert.Equal(node.Daemon.Pid, status.Daemon.Pid);
        Assert.Contains(status.Components, c => c.Kind == "check" && c.Name == FleetNode.CheckName);
    }

    [Fact]
    public async Task A_status_sealed_for_the_listed_admins_cannot_be_opened_with_another_admins_key()
    {
        await using var broker = await NatsServer.StartAsync(output);
        await using var node = await FleetNode.StartAsync(output, broker);
        var stranger = await AdminKey.CreateAsync(node.Daemon.Root, "mallory_ed25519");

        var (value, _) = await node.WaitForStatusEntryAsync();

        using var key = stranger.Load();
        var opened = FleetSeal.OpenReport(value, FleetNode.Node, node.NodeKey, key, DateTimeOffset.UtcNow);
        Assert.Equal(FleetOutcome.NotRecipient, opened.Outcome);
        Assert.Null(opened.Message);
    }

    [Fact]
    public async Task A_killed_broker_makes_fleet_nats_degraded_with_the_reason_and_its_return_makes_it_running_and_publishing_again()
    {
        await using var broker = await NatsServer.StartAsync(output);
        await using var node = await FleetNode.StartAsync(output, broker);
        await node.Daemon.WaitForComponentAsync("nats", "Running", Patience);
        var (_, before) = await node.WaitForStatusEntryAsync();

        await broker.KillAsync();

        var down = await node.Daemon.WaitForComponentAsync("nats", "Degraded", Patience);
        Assert.StartsWith($"broker 127.0.0.1:{broker.Port} unreachable: ", down.Reason, StringComparison.Ordinal);
        var status = node.Daemon.ReadStatus();
        Assert.Equal("running", status.Daemon.State);
        Assert.Contains("fleet 0/1 up", status.Daemon.Summary, StringComparison.Ordinal);
        Assert.DoesNotContain(status.Components, c => c.Kind != "fleet" && c.State is "Backoff" or "Stopped");

        await broker.RestartAsync();

        var up = await node.Daemon.WaitForComponentAsync("nats", "Running", Patience);
        Assert.Contains("connected to broker", up.Reason, StringComparison.Ordinal);
        var (value, after) = await node.WaitForStatusEntryAsync(before, Patience);
        Assert.True(after > before);
        using var admin = node.Admin.Load();
        Assert.True(FleetSeal.OpenReport(value, FleetNode.Node, node.NodeKey, admin, DateTimeOffset.UtcNow).Accepted);
    }
}
