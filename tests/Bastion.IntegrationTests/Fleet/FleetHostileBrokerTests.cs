using System.Globalization;
using System.Security.Cryptography;
using Bastion.Fleet;
using Bastion.IntegrationTests.Cli;
using Bastion.IntegrationTests.Infrastructure;
using NATS.Client.Core;
using NATS.Client.JetStream;
using Xunit.Abstractions;

namespace Bastion.IntegrationTests.Fleet;

/// <summary>
/// A hostile (or broken) broker, played by a raw NATS client with full rights on a real nats-server: it moves commands to
/// another node's subject, delivers one twice, drops one, replays one after the node restarted, and stuffs the stream with
/// garbage. Nothing it does makes the node execute anything an admin did not send to it, once.
/// </summary>
public sealed class FleetHostileBrokerTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);
    private const string Accepted = "fleet: command 'restart' accepted";

    private static string Refused(string outcome) => "SECURITY fleet: command refused: " + outcome;

    [Fact]
    public async Task A_command_for_another_node_moved_to_this_nodes_subject_is_refused_and_logged_and_never_executed()
    {
        await using var broker = await NatsServer.StartAsync(output);
        await using var node = await FleetNode.StartRunningAsync(output, broker);
        using var admin = node.Admin.Load();
        using var web2 = Ed25519PrivateKey.Generate();
        await using var nats = new NatsConnection(new NatsOpts { Url = broker.Url });

        // web2's command, encrypted to web2's key, moved by the broker to web1's subject: web1 cannot even open it, so
        // nobody can tell who signed it (the signature is inside the ciphertext).
        await FleetNode.PublishRawAsync(nats, FleetSeal.SealCommand(FleetNode.RestartCheck("web2"), admin, web2.PublicKey));
        var notForUs = await node.Daemon.Log.WaitForLineAsync(l => l.Contains(Refused("NotRecipient"), StringComparison.Ordinal), Patience, "the misrouted ciphertext refused");
        Assert.Contains("signer unknown (no signature parsed); not executed", notForUs, StringComparison.Ordinal);

        // web2's command encrypted to web1's key (a clone of web1's disk answering as web2, or web1 renamed from web2):
        // web1 opens it, sees the signer, and refuses it because the signed addressee is another node.
        await FleetNode.PublishRawAsync(nats, FleetSeal.SealCommand(FleetNode.RestartCheck("web2"), admin, node.NodeKey));
        var wrongNode = await node.Daemon.Log.WaitForLineAsync(l => l.Contains(Refused("WrongNode"), StringComparison.Ordinal), Patience, "the misaddressed command refused");
        Assert.Contains(admin.PublicKey.Fingerprint, wrongNode, StringComparison.Ordinal);
        Assert.Contains("not executed", wrongNode, StringComparison.Ordinal);

        await node.WaitForCommandsRefusedAsync(2);
        Assert.DoesNotContain(node.Daemon.Log.Lines, l => l.Contains(Accepted, StringComparison.Ordinal));
        // A command really for web1 still runs: the refusals cost nothing but their log lines.
        var run = await node.SendAsync("status");
        Assert.True(run.ExitCode == 0, run.ToString());
    }

    [Fact]
    public async Task A_command_the_broker_delivers_twice_runs_once_and_the_copy_is_refused_as_a_replay()
    {
        await using var broker = await NatsServer.StartAsync(output);
        await using var node = await FleetNode.StartRunningAsync(output, broker);
        // Both copies wait in the stream while the node is down, so they arrive in one pull, back to back.
        await node.StopAsync();
        using var admin = node.Admin.Load();
        var restart = FleetSeal.SealCommand(FleetNode.RestartCheck(), admin, node.NodeKey);
        await using var nats = new NatsConnection(new NatsOpts { Url = broker.Url });
        await using var replies = await nats.SubscribeCoreAsync<byte[]>("bastion.fleet.reply." + FleetNode.Node).AsTask().WaitAsync(Patience);
        await FleetNode.PublishRawAsync(nats, restart);
        await FleetNode.PublishRawAsync(nats, restart);

        node.Daemon.Start();

        await node.Daemon.Log.WaitForLineAsync(l => l.Contains(Refused("Replayed"), StringComparison.Ordinal), Patience, "the copy refused as a replay");
        using var wait = new CancellationTokenSource(Patience);
        var reply = await replies.Msgs.ReadAsync(wait.Token);
        Assert.StartsWith("ok: check/" + FleetNode.CheckName + " restarted", FleetSeal.OpenReport(reply.Data!, FleetNode.Node, node.NodeKey, admin, DateTimeOffset.UtcNow).Message!.Body, StringComparison.Ordinal);
        // No second reply: the copy did nothing.
        await Task.Delay(TimeSpan.FromSeconds(3));
        Assert.False(replies.Msgs.TryRead(out _), "a second reply arrived: the copy was executed");
        Assert.Single(node.Daemon.Log.Lines, l => l.Contains(Accepted, StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_command_the_broker_drops_makes_fleet_send_time_out_with_a_clear_message_and_exit_code_1_and_nothing_runs()
    {
        await using var broker = await NatsServer.StartAsync(output);
        await using var node = await FleetNode.StartRunningAsync(output, broker);
        await node.StopAsync();

        // The broker acknowledges the command, then throws it away before the node reads it.
        await using var nats = new NatsConnection(new NatsOpts { Url = broker.Url });
        await using var seen = await nats.SubscribeCoreAsync<byte[]>(FleetNode.CommandSubject).AsTask().WaitAsync(Patience);
        var send = Bastionctl.RunAsync(["fleet", "send", "--servers", broker.Url, "--nodes", node.NodesFile, "--key", node.Admin.PrivatePath, "--timeout", "10s",
            FleetNode.Node, "restart", "check/" + FleetNode.CheckName]);
        using (var wait = new CancellationTokenSource(Patience))
        {
            await seen.Msgs.ReadAsync(wait.Token);
        }
        var js = new NatsJSContext(nats);
        var deadline = DateTime.UtcNow + Patience;
        while ((await js.GetStreamAsync("bastion-fleet-cmd").AsTask().WaitAsync(Patience)).Info.State.Messages > 0 || !send.IsCompleted)
        {
            await js.PurgeStreamAsync("bastion-fleet-cmd", new NATS.Client.JetStream.Models.StreamPurgeRequest()).AsTask().WaitAsync(Patience);
            Assert.True(DateTime.UtcNow < deadline, "the stream could not be emptied");
            await Task.Delay(200);
        }

        var run = await send.WaitAsync(Patience);
        Assert.True(run.ExitCode == 1, run.ToString());
        Assert.Contains("no signed reply from web1 within 10s", run.Stderr, StringComparison.Ordinal);

        // The node comes back to an empty stream: nothing runs, nothing is refused.
        await node.StartAgainAsync();
        await Task.Delay(TimeSpan.FromSeconds(3));
        Assert.DoesNotContain(node.Daemon.Log.Lines, l => l.Contains("fleet: command", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_command_replayed_after_the_node_was_killed_and_restarted_is_refused_because_the_nonce_cache_survives()
    {
        await using var broker = await NatsServer.StartAsync(output);
        await using var node = await FleetNode.StartRunningAsync(output, broker);
        using var admin = node.Admin.Load();
        var restart = FleetSeal.SealCommand(FleetNode.RestartCheck(), admin, node.NodeKey);
        await using var nats = new NatsConnection(new NatsOpts { Url = broker.Url });
        await FleetNode.PublishRawAsync(nats, restart);
        await node.Daemon.Log.WaitForLineAsync(l => l.Contains(Accepted, StringComparison.Ordinal), Patience, "the command accepted");

        node.Daemon.Signal(9); // no goodbye, no flush at exit
        await node.Daemon.WaitForExitAsync(BastiondProcess.Patience);
        await node.StartAgainAsync();
        await FleetNode.PublishRawAsync(nats, restart);

        var replayed = await node.Daemon.Log.WaitForLineAsync(l => l.Contains(Refused("Replayed"), StringComparison.Ordinal), Patience, "the replay refused after the restart");
        Assert.Contains(admin.PublicKey.Fingerprint, replayed, StringComparison.Ordinal);
        Assert.Single(node.Daemon.Log.Lines, l => l.Contains(Accepted, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Garbage_and_oversized_payloads_from_the_broker_are_refused_with_bounded_memory_and_the_component_stays_running()
    {
        await using var broker = await NatsServer.StartAsync(output);
        await using var node = await FleetNode.StartRunningAsync(output, broker);
        var rssBefore = RssMegabytes(node.Daemon.Pid);
        await using var nats = new NatsConnection(new NatsOpts { Url = broker.Url });
        await nats.ConnectAsync().AsTask().WaitAsync(Patience);
        var max = (int)nats.ServerInfo!.MaxPayload;
        output.WriteLine($"broker max_payload {max} bytes; bastiond RSS before {rssBefore} MB");

        // Empty, one byte, a header that claims 255 recipients and ends, a length field of 4 GiB, and the largest messages
        // the broker takes (random bytes, and the envelope's version string followed by random bytes).
        byte[] magic = [0, 0, 0, 25, .. "bastion-fleet-envelope@v1"u8];
        List<byte[]> payloads = [[], [0x42], [.. magic, 0, 0, 0, 255], [.. magic, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff]];
        const int Large = 120;
        for (var i = 0; i < Large; i++)
        {
            payloads.Add(i % 2 == 0 ? RandomNumberGenerator.GetBytes(max - 512) : [.. magic, .. RandomNumberGenerator.GetBytes(max - 512 - magic.Length)]);
        }
        foreach (var payload in payloads)
        {
            await FleetNode.PublishRawAsync(nats, payload);
        }
        await node.WaitForCommandsRefusedAsync(payloads.Count);

        var rssAfter = RssMegabytes(node.Daemon.Pid);
        output.WriteLine($"bastiond RSS after {payloads.Count} refused payloads ({Large * max / (1024 * 1024)} MB): {rssAfter} MB");
        Assert.True(rssAfter - rssBefore < Large * max / (1024 * 1024) / 2, $"RSS grew from {rssBefore} to {rssAfter} MB");
        Assert.Equal("Running", node.Daemon.ReadStatus().Components.Single(c => c.Name == "nats").State);
        Assert.Single(node.Daemon.Log.Lines, l => l.Contains(Refused("Malformed"), StringComparison.Ordinal));
        var run = await node.SendAsync("status");
        Assert.True(run.ExitCode == 0, run.ToString() + "\n" + node.Daemon.Log);
    }

    [Fact]
    public async Task A_message_larger_than_any_command_is_refused_by_the_stream_and_one_a_hostile_broker_pushes_anyway_is_refused_by_the_node_without_buffering_it()
    {
        await using var broker = await NatsServer.StartAsync(output, "max_payload: 8MB\n");
        await using var node = await FleetNode.StartRunningAsync(output, broker);
        await using var nats = new NatsConnection(new NatsOpts { Url = broker.Url });
        var js = new NatsJSContext(nats);
        var huge = RandomNumberGenerator.GetBytes(6 * 1024 * 1024);

        // An honest broker: the node made the stream refuse anything larger than an envelope can be.
        var ack = await js.PublishAsync(FleetNode.CommandSubject, huge).AsTask().WaitAsync(Patience);
        Assert.True(ack.Error is not null, "the stream stored a 6 MiB message");
        output.WriteLine($"stream refused: {ack.Error!.Description}");

        // A hostile broker lifts the limit and delivers it: the node's client drops the connection on such a message
        // (NatsOpts.MaxPayloadHardCap) instead of buffering it, and reconnects on its backoff.
        var stream = await js.GetStreamAsync("bastion-fleet-cmd").AsTask().WaitAsync(Patience);
        await js.UpdateStreamAsync(stream.Info.Config with { MaxMsgSize = -1 }).AsTask().WaitAsync(Patience);
        var rssBefore = RssMegabytes(node.Daemon.Pid);
        for (var i = 0; i < 4; i++)
        {
            await FleetNode.PublishRawAsync(nats, huge);
        }
        await Task.Delay(TimeSpan.FromSeconds(10));
        var rssAfter = RssMegabytes(node.Daemon.Pid);
        output.WriteLine($"RSS {rssBefore} MB before, {rssAfter} MB after 4 x 6 MiB pushed; nats {node.Daemon.ReadStatus().Components.Single(c => c.Name == "nats").State}: {node.Daemon.ReadStatus().Components.Single(c => c.Name == "nats").Reason}");
        Assert.True(rssAfter - rssBefore < 20, $"RSS grew from {rssBefore} to {rssAfter} MB");
        Assert.Contains(node.Daemon.Log.Lines, l => l.Contains("fleet/nats: Running -> Degraded", StringComparison.Ordinal));
        Assert.DoesNotContain(node.Daemon.Log.Lines, l => l.Contains("SECURITY fleet", StringComparison.Ordinal)); // never read in full

        // Once the broker stops (the messages purged), the link is up and commands run again.
        await js.PurgeStreamAsync("bastion-fleet-cmd", new NATS.Client.JetStream.Models.StreamPurgeRequest()).AsTask().WaitAsync(Patience);
        await node.Daemon.WaitForComponentAsync("nats", "Running", Patience);
        var run = await node.SendAsync("status");
        Assert.True(run.ExitCode == 0, run.ToString() + "\n" + node.Daemon.Log);
        Assert.DoesNotContain(node.Daemon.Log.Lines, l => l.Contains("fleet: command 'restart'", StringComparison.Ordinal));
    }

    private static long RssMegabytes(int pid)
    {
        var line = File.ReadLines($"/proc/{pid}/status").Single(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
        return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024;
    }
}
