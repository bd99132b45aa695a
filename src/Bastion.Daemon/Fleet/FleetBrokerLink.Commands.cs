using System.Security.Cryptography;
using Bastion.Fleet;
using Bastion.Supervision;
using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.JetStream.Models;

namespace Bastion.Daemon.Fleet;

// Commands: a JetStream stream keeps them (so a node that was offline gets its still-valid commands when it reconnects),
// the node's durable consumer reads its own subject, FleetSeal.OpenCommand decides (the replay cache last), the control
// path executes, and the reply goes out signed by the node key and sealed to the admins.
internal sealed partial class FleetBrokerLink
{
    /// <summary>The stream every node's commands are kept in (subject <c>bastion.fleet.cmd.NODE</c>).</summary>
    public const string CommandStream = "bastion-fleet-cmd";

    public static string CommandSubject(string node) => "bastion.fleet.cmd." + node;

    public static string ReplySubject(string node) => "bastion.fleet.reply." + node;

    private sealed record Keys(Ed25519PrivateKey NodeKey, IReadOnlyList<SshPublicKey> Admins, AllowedSigners Signers, ReplayCache Replay);

    /// <summary>Creates the stream and this node's durable consumer; returns the consume loop, which ends only on failure.</summary>
    private async Task<Task> StartCommandsAsync(IComponentContext context, NatsConnection nats, NatsJSContext js, Keys keys, CancellationToken cancellationToken)
    {
        await js.CreateOrUpdateStreamAsync(new StreamConfig(CommandStream, ["bastion.fleet.cmd.>"])
        {
            MaxAge = FleetCommand.MaxLifetime, // a command is worthless after that anyway
            Storage = StreamConfigStorage.File,
        }, cancellationToken).AsTask().WaitAsync(BrokerTimeout, context.Time, cancellationToken).ConfigureAwait(false);
        var consumer = await js.CreateOrUpdateConsumerAsync(CommandStream, new ConsumerConfig("node-" + Fleet.Node)
        {
            FilterSubject = CommandSubject(Fleet.Node),
            AckPolicy = ConsumerConfigAckPolicy.Explicit,
            DeliverPolicy = ConsumerConfigDeliverPolicy.All,
        }, cancellationToken).AsTask().WaitAsync(BrokerTimeout, context.Time, cancellationToken).ConfigureAwait(false);
        var runner = new FleetCommandRunner(runtime);
        return Task.Run(async () =>
        {
            // A few messages at a time: what a hostile broker can make the node buffer stays small.
            var pull = new NatsJSConsumeOpts { MaxMsgs = 8 };
            await foreach (var message in consumer.ConsumeAsync<byte[]>(opts: pull, cancellationToken: cancellationToken).ConfigureAwait(false))
            {
                var opened = FleetSeal.OpenCommand(message.Data ?? [], Fleet.Node, keys.NodeKey, keys.Signers, keys.Replay, context.Time.GetUtcNow());
                FleetLog.Command(logger, opened);
                if (!keys.Replay.Persisted && keys.Replay.PersistError is { } error)
                {
                    FleetLog.ReplayCacheNotPersisted(logger, error);
                }
                // Acknowledged whatever the outcome: a refused message would be refused again.
                await message.AckAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
                if (opened.Message is not { } command)
                {
                    continue;
                }
                var body = await runner.RunAsync(command, cancellationToken).ConfigureAwait(false);
                var now = context.Time.GetUtcNow();
                var reply = new FleetReport(FleetReportKind.Reply, Fleet.Node, command.Nonce, body,
                    RandomNumberGenerator.GetBytes(FleetCommand.MinNonce), now, now + FleetCommand.MaxLifetime);
                await nats.PublishAsync(ReplySubject(Fleet.Node), FleetSeal.SealReport(reply, keys.NodeKey, keys.Admins), cancellationToken: cancellationToken)
                    .ConfigureAwait(false);
            }
        }, cancellationToken);
    }
}
