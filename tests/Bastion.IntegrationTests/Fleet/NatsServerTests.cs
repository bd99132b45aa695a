using Bastion.IntegrationTests.Infrastructure;
using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.KeyValueStore;
using Xunit.Abstractions;

namespace Bastion.IntegrationTests.Fleet;

/// <summary>The broker fixture itself: a real nats-server with JetStream on loopback, killed and brought back with its store.</summary>
public sealed class NatsServerTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task The_broker_serves_a_key_value_bucket_and_keeps_it_across_a_kill_and_restart_on_the_same_port()
    {
        await using var broker = await NatsServer.StartAsync(output);
        Assert.Contains(broker.Log.Lines, l => l.Contains("Listening for client connections on 127.0.0.1:" + broker.Port, StringComparison.Ordinal));

        await using (var nats = new NatsConnection(new NatsOpts { Url = broker.Url }))
        {
            var kv = new NatsKVContext(new NatsJSContext(nats));
            var store = await kv.CreateStoreAsync(new NatsKVConfig("fixture-check")).AsTask().WaitAsync(Patience);
            await store.PutAsync("web1", "hello"u8.ToArray()).AsTask().WaitAsync(Patience);
        }

        await broker.KillAsync();
        Assert.False(broker.IsRunning);
        await broker.RestartAsync();

        await using var again = new NatsConnection(new NatsOpts { Url = broker.Url });
        var kv2 = new NatsKVContext(new NatsJSContext(again));
        var store2 = await kv2.GetStoreAsync("fixture-check").AsTask().WaitAsync(Patience);
        var entry = await store2.GetEntryAsync<byte[]>("web1").AsTask().WaitAsync(Patience);
        Assert.Equal("hello"u8.ToArray(), entry.Value);
    }
}
