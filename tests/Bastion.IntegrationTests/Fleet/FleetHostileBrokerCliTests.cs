using System.Diagnostics;
using System.Security.Cryptography;
using Bastion.Fleet;
using Bastion.IntegrationTests.Cli;
using Bastion.IntegrationTests.Infrastructure;
using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.JetStream.Models;
using NATS.Client.KeyValueStore;
using Xunit.Abstractions;

namespace Bastion.IntegrationTests.Fleet;

/// <summary>
/// bastionctl against a broker that plays hostile: a raw NATS client on a real nats-server (with a large max_payload, as a
/// modified or misconfigured broker would allow) publishes oversized replies, floods the reply subject, stores oversized
/// status entries and thousands of bogus keys. bastionctl reads a bounded amount, believes none of it and says so with
/// exit 4. No bastiond is needed: the test makes the stream, the bucket and the node's keys itself.
/// </summary>
public sealed class FleetHostileBrokerCliTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);
    private const int BigPayload = 8 * 1024 * 1024;

    private sealed class HostileFleet : IAsyncDisposable
    {
        public required NatsServer Broker { get; init; }
        public required TempRoot Root { get; init; }
        public required NatsConnection Nats { get; init; }
        public required AdminKey Admin { get; init; }
        public required Ed25519PrivateKey NodeKey { get; init; }
        public required string NodesFile { get; init; }

        public async ValueTask DisposeAsync()
        {
            try
            {
                await Nats.DisposeAsync();
            }
            catch (NatsTimeoutException)
            {
                // The hostile publisher's own unsubscribe can time out after flooding megabytes; it is not what is tested.
            }
            NodeKey.Dispose();
            await Broker.DisposeAsync();
            Root.Dispose();
        }
    }

    private async Task<HostileFleet> StartAsync(params string[] otherNodes)
    {
        var broker = await NatsServer.StartAsync(output, maxPayload: BigPayload);
        var root = new TempRoot("fleet-hostile-");
        var nats = new NatsConnection(new NatsOpts { Url = broker.Url });
        var nodeKey = Ed25519PrivateKey.Generate();
        var admin = await AdminKey.CreateAsync(root, "alice_ed25519");
        var js = new NatsJSContext(nats);
        await js.CreateStreamAsync(new StreamConfig("bastion-fleet-cmd", ["bastion.fleet.cmd.>"]) { MaxAge = TimeSpan.FromMinutes(15) }).AsTask().WaitAsync(Patience);
        await new NatsKVContext(js).CreateStoreAsync(new NatsKVConfig("bastion-fleet-status")).AsTask().WaitAsync(Patience);
        var lines = $"web1 {nodeKey.PublicKey}\n" + string.Concat(otherNodes.Select(n => $"{n} {Ed25519PrivateKey.Generate().PublicKey}\n"));
        return new HostileFleet { Broker = broker, Root = root, Nats = nats, Admin = admin, NodeKey = nodeKey, NodesFile = root.Write("nodes", lines) };
    }

    private static Task<BastionctlRun> SendAsync(HostileFleet fleet, string timeout) =>
        Bastionctl.RunAsync("fleet", "send", "--servers", fleet.Broker.Url, "--nodes", fleet.NodesFile, "--key", fleet.Admin.PrivatePath,
            "--timeout", timeout, "web1", "status");

    private static Task<BastionctlRun> StatusAsync(HostileFleet fleet, params string[] extra) =>
        Bastionctl.RunAsync(["fleet", "status", "--servers", fleet.Broker.Url, "--nodes", fleet.NodesFile, "--key", fleet.Admin.PrivatePath, .. extra]);

    /// <summary>Publishes <paramref name="message"/> on web1's reply subject every 100 ms until <paramref name="until"/> ends.</summary>
    private static async Task<BastionctlRun> WhilePublishingAsync(HostileFleet fleet, Task<BastionctlRun> until, Func<byte[]> message)
    {
        while (!until.IsCompleted)
        {
            await fleet.Nats.PublishAsync("bastion.fleet.reply.web1", message()).AsTask().WaitAsync(Patience);
            await Task.WhenAny(until, Task.Delay(100));
        }
        return await until.WaitAsync(Patience);
    }

    private static byte[] GenuineStatus(HostileFleet fleet, Ed25519PrivateKey admin, string body)
    {
        var now = DateTimeOffset.UtcNow;
        var report = new FleetReport(FleetReportKind.Status, "web1", [], body, RandomNumberGenerator.GetBytes(16), now, now + TimeSpan.FromMinutes(10));
        return FleetSeal.SealReport(report, fleet.NodeKey, [admin.PublicKey]);
    }

    [Fact]
    public async Task Fleet_send_refuses_reply_messages_larger_than_any_envelope_and_exits_4_instead_of_reading_them()
    {
        await using var fleet = await StartAsync();
        var clock = Stopwatch.StartNew();

        // Larger than an envelope but within the client's hard cap: received, not opened, counted.
        var run = await WhilePublishingAsync(fleet, SendAsync(fleet, "5s"), () => new byte[FleetEnvelope.MaxSize + 1000]);

        output.WriteLine($"{clock.Elapsed.TotalSeconds:F1} s\n{run}");
        Assert.True(run.ExitCode == 4, run.ToString());
        Assert.Contains("larger than any fleet envelope", run.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Fleet_send_cuts_a_broker_that_announces_a_huge_reply_and_exits_4_without_waiting_for_the_timeout()
    {
        await using var fleet = await StartAsync();
        var clock = Stopwatch.StartNew();

        // 6 MiB: beyond what bastionctl agrees to buffer; the client drops the connection rather than read it.
        var run = await WhilePublishingAsync(fleet, SendAsync(fleet, "50s"), () => new byte[6 * 1024 * 1024]);

        output.WriteLine($"{clock.Elapsed.TotalSeconds:F1} s\n{run}");
        Assert.True(run.ExitCode == 4, run.ToString());
        Assert.Contains("larger than", run.Stderr, StringComparison.Ordinal);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(45), $"gave up only after {clock.Elapsed}: the 50 s wait was not cut short");
    }

    [Fact]
    public async Task Fleet_send_stops_opening_a_flood_of_replies_that_are_not_its_own_and_exits_4()
    {
        await using var fleet = await StartAsync();
        using var admin = fleet.Admin.Load();

        // Genuine-looking traffic: validly sealed and signed by the node, but a status, not this command's reply.
        var run = await WhilePublishingAsync(fleet, SendAsync(fleet, "50s"), () => GenuineStatus(fleet, admin, "not a reply"));

        Assert.True(run.ExitCode == 4, run.ToString());
        Assert.Contains($"delivered 64 messages on web1's reply subject that are not the reply", run.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Fleet_status_marks_an_oversized_entry_refused_unread_and_exits_4_while_other_nodes_are_shown()
    {
        await using var fleet = await StartAsync("web2");
        using var admin = fleet.Admin.Load();
        var kv = await new NatsKVContext(new NatsJSContext(fleet.Nats)).GetStoreAsync("bastion-fleet-status").AsTask().WaitAsync(Patience);
        await kv.PutAsync("web1", GenuineStatus(fleet, admin, "genuine status of web1")).AsTask().WaitAsync(Patience);
        await kv.PutAsync("web2", new byte[FleetEnvelope.MaxSize + 1000]).AsTask().WaitAsync(Patience);

        var run = await StatusAsync(fleet);

        Assert.True(run.ExitCode == 4, run.ToString());
        var rows = run.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Contains(rows, r => r.StartsWith("web1 ", StringComparison.Ordinal) && r.Contains(" fresh ", StringComparison.Ordinal) && r.Contains("genuine status of web1", StringComparison.Ordinal));
        Assert.Contains(rows, r => r.StartsWith("web2 ", StringComparison.Ordinal) && r.Contains(" oversized ", StringComparison.Ordinal) && r.Contains("not read", StringComparison.Ordinal));
        Assert.Contains("larger than any fleet status", run.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Fleet_status_cuts_a_broker_that_hands_over_a_huge_entry_and_exits_4_with_a_clear_message()
    {
        await using var fleet = await StartAsync();
        var kv = await new NatsKVContext(new NatsJSContext(fleet.Nats)).GetStoreAsync("bastion-fleet-status").AsTask().WaitAsync(Patience);
        await kv.PutAsync("web1", new byte[6 * 1024 * 1024]).AsTask().WaitAsync(Patience);
        var clock = Stopwatch.StartNew();

        var run = await StatusAsync(fleet);

        output.WriteLine($"{clock.Elapsed.TotalSeconds:F1} s\n{run}");
        Assert.True(run.ExitCode == 4, run.ToString());
        Assert.Contains("larger than", run.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("Exception", run.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Fleet_status_lists_only_the_nodes_of_the_node_list_however_many_keys_the_bucket_holds()
    {
        await using var fleet = await StartAsync();
        using var admin = fleet.Admin.Load();
        var kv = await new NatsKVContext(new NatsJSContext(fleet.Nats)).GetStoreAsync("bastion-fleet-status").AsTask().WaitAsync(Patience);
        await kv.PutAsync("web1", GenuineStatus(fleet, admin, "genuine status of web1")).AsTask().WaitAsync(Patience);
        const int Bogus = 5000;
        for (var i = 0; i < Bogus; i++)
        {
            await fleet.Nats.PublishAsync($"$KV.bastion-fleet-status.bogus{i}", new byte[512]);
        }
        await fleet.Nats.PingAsync().AsTask().WaitAsync(Patience);
        var status = await new NatsJSContext(fleet.Nats).GetStreamAsync("KV_bastion-fleet-status").AsTask().WaitAsync(Patience);
        Assert.True(status.Info.State.Messages > Bogus, $"the bucket holds {status.Info.State.Messages} entries");

        var run = await StatusAsync(fleet, "--json");

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.DoesNotContain("bogus", run.Stdout, StringComparison.Ordinal);
        Assert.Contains("genuine status of web1", run.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Fleet_status_bounds_its_whole_read_by_the_timeout_and_exits_4_when_the_broker_does_not_hand_over_the_entries_in_time()
    {
        // 300 listed nodes, read one entry at a time: far more than 1 ms of the broker's time, so the bound is what ends it.
        await using var fleet = await StartAsync([.. Enumerable.Range(2, 300).Select(i => "web" + i)]);

        var run = await StatusAsync(fleet, "--timeout", "1ms");

        Assert.True(run.ExitCode == 4, run.ToString());
        Assert.Contains("within 1ms (--timeout)", run.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("Exception", run.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Fleet_status_with_a_passphrase_protected_key_explains_that_decrypting_needs_the_key_itself_not_the_agent()
    {
        await using var fleet = await StartAsync();
        var protect = await ExternalCommand.RunAsync("ssh-keygen", ["-q", "-p", "-P", "", "-N", "secret words", "-f", fleet.Admin.PrivatePath], Patience);
        Assert.True(protect.ExitCode == 0, protect.Describe());

        var run = await StatusAsync(fleet);

        Assert.True(run.ExitCode == 1, run.ToString());
        Assert.Contains("protected by a passphrase", run.Stderr, StringComparison.Ordinal);
        Assert.Contains("ssh-agent cannot do", run.Stderr, StringComparison.Ordinal);
    }
}
