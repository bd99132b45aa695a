using Bastion.Fleet;
using Bastion.IntegrationTests.Infrastructure;
using NATS.Client.Core;
using Xunit.Abstractions;

namespace Bastion.IntegrationTests.Fleet;

/// <summary>
/// Break-glass commands through a real nats-server to a real bastiond: <c>bastionctl fleet send</c> round trips, and
/// what the node does with a replayed or foreign-signed command the broker (or anyone on it) injects.
/// </summary>
public sealed class FleetCommandTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task A_signed_restart_sent_through_the_broker_restarts_the_component_and_the_node_answers_with_a_signed_reply()
    {
        await using var broker = await NatsServer.StartAsync(output);
        await using var node = await FleetNode.StartRunningAsync(output, broker);
        var instance = (await node.Daemon.WaitForStatusAsync(s => s.Components.Any(c => c.Name == FleetNode.CheckName), "check listed")).Components.Single(c => c.Name == FleetNode.CheckName).Instance;

        var run = await node.SendAsync("restart", "check/" + FleetNode.CheckName);

        Assert.True(run.ExitCode == 0, run.ToString() + "\n" + node.Daemon.Log);
        Assert.Contains($"web1: ok: check/{FleetNode.CheckName} restarted", run.Stdout, StringComparison.Ordinal);
        await node.Daemon.WaitForStatusAsync(s => s.Components.Single(c => c.Name == FleetNode.CheckName).Instance != instance, "the check restarted (a new instance)");
        Assert.Contains($"(instance {node.Daemon.ReadStatus().Components.Single(c => c.Name == FleetNode.CheckName).Instance})", run.Stdout, StringComparison.Ordinal);
        Assert.Contains(node.Daemon.Log.Lines, l => l.Contains("fleet: command 'restart' accepted, signed by SHA256:", StringComparison.Ordinal));

        var status = await node.SendAsync("status");
        Assert.True(status.ExitCode == 0, status.ToString());
        Assert.Contains("web1: ok: checks 0/1 up", status.Stdout, StringComparison.Ordinal);

        var unknown = await node.SendAsync("shell", "rm", "-rf", "/");
        Assert.True(unknown.ExitCode == 1, unknown.ToString());
        Assert.Contains("web1: failed: unknown command 'shell'", unknown.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_replayed_command_and_one_signed_by_an_unlisted_key_are_refused_as_security_events_and_not_executed()
    {
        await using var broker = await NatsServer.StartAsync(output);
        await using var node = await FleetNode.StartRunningAsync(output, broker);
        using var admin = node.Admin.Load();
        var stranger = await AdminKey.CreateAsync(node.Daemon.Root, "mallory_ed25519");
        using var strangerKey = stranger.Load();
        var now = DateTimeOffset.UtcNow;
        var restart = FleetSeal.SealCommand(FleetNode.RestartCheck(now: now), admin, node.NodeKey);
        var forged = FleetSeal.SealCommand(FleetNode.RestartCheck(now: now), strangerKey, node.NodeKey);

        await using var nats = new NatsConnection(new NatsOpts { Url = broker.Url });
        await FleetNode.PublishRawAsync(nats, restart);
        await node.Daemon.Log.WaitForLineAsync(l => l.Contains("fleet: command 'restart' accepted", StringComparison.Ordinal), Patience, "the first copy accepted");
        await FleetNode.PublishRawAsync(nats, restart);
        await FleetNode.PublishRawAsync(nats, forged);

        await node.Daemon.Log.WaitForLineAsync(l => l.Contains("SECURITY fleet: command refused: Replayed", StringComparison.Ordinal), Patience, "the replay refused");
        var unknown = await node.Daemon.Log.WaitForLineAsync(l => l.Contains("SECURITY fleet: command refused: UnknownSigner", StringComparison.Ordinal), Patience, "the forgery refused");
        Assert.Contains(strangerKey.PublicKey.Fingerprint, unknown, StringComparison.Ordinal);
        Assert.Single(node.Daemon.Log.Lines, l => l.Contains("fleet: command 'restart' accepted", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_flood_of_forged_and_tampered_commands_from_the_broker_is_counted_and_logged_in_aggregate_and_a_valid_command_still_runs()
    {
        await using var broker = await NatsServer.StartAsync(output);
        await using var node = await FleetNode.StartRunningAsync(output, broker);
        using var admin = node.Admin.Load();
        var stranger = await AdminKey.CreateAsync(node.Daemon.Root, "mallory_ed25519");
        using var strangerKey = stranger.Load();
        await using var nats = new NatsConnection(new NatsOpts { Url = broker.Url });
        const int Flood = 100;
        for (var i = 0; i < Flood; i++)
        {
            var forged = FleetSeal.SealCommand(FleetCommand.Create(FleetNode.Node, "reload", [], DateTimeOffset.UtcNow, TimeSpan.FromMinutes(5)), strangerKey, node.NodeKey);
            var tampered = FleetSeal.SealCommand(FleetCommand.Create(FleetNode.Node, "reload", [], DateTimeOffset.UtcNow, TimeSpan.FromMinutes(5)), admin, node.NodeKey);
            tampered[^1] ^= 1; // one bit of the ciphertext's tag
            await FleetNode.PublishRawAsync(nats, forged);
            await FleetNode.PublishRawAsync(nats, tampered);
        }
        await node.WaitForCommandsRefusedAsync(2 * Flood);

        // The broker's flood is one line per outcome (with the signer), not one per message; nothing ran.
        var refusedLines = node.Daemon.Log.Lines.Where(l => l.Contains("SECURITY fleet: command refused", StringComparison.Ordinal)).ToList();
        output.WriteLine($"{refusedLines.Count} refusal lines for {2 * Flood} refused commands");
        Assert.Single(refusedLines, l => l.Contains("UnknownSigner", StringComparison.Ordinal) && l.Contains(strangerKey.PublicKey.Fingerprint, StringComparison.Ordinal));
        Assert.Single(refusedLines, l => l.Contains("Tampered", StringComparison.Ordinal));
        Assert.Equal(2, refusedLines.Count);
        Assert.DoesNotContain(node.Daemon.Log.Lines, l => l.Contains("accepted", StringComparison.Ordinal) && l.Contains("fleet: command", StringComparison.Ordinal));

        // A valid command behind the flood still runs.
        var run = await node.SendAsync("status");
        Assert.True(run.ExitCode == 0, run.ToString());
    }

    [Fact]
    public async Task A_command_sent_while_the_node_is_down_is_run_when_it_comes_back_and_answered_with_a_reply_signed_by_the_node()
    {
        await using var broker = await NatsServer.StartAsync(output);
        await using var node = await FleetNode.StartRunningAsync(output, broker);
        await node.StopAsync();

        using var admin = node.Admin.Load();
        var command = FleetCommand.Create(FleetNode.Node, "status", [], DateTimeOffset.UtcNow, TimeSpan.FromMinutes(5));
        await using var nats = new NatsConnection(new NatsOpts { Url = broker.Url });
        await using var replies = await nats.SubscribeCoreAsync<byte[]>("bastion.fleet.reply.web1").AsTask().WaitAsync(Patience);
        await FleetNode.PublishRawAsync(nats, FleetSeal.SealCommand(command, admin, node.NodeKey));

        node.Daemon.Start();

        using var wait = new CancellationTokenSource(Patience);
        var message = await replies.Msgs.ReadAsync(wait.Token);
        var opened = FleetSeal.OpenReport(message.Data!, FleetNode.Node, node.NodeKey, admin, DateTimeOffset.UtcNow);
        Assert.True(opened.Accepted, opened.Outcome.ToString());
        Assert.Equal(FleetReportKind.Reply, opened.Message!.Kind);
        Assert.Equal(command.Nonce, opened.Message.InReplyTo);
        Assert.StartsWith("ok: ", opened.Message.Body, StringComparison.Ordinal);
    }
}
