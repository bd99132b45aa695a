using System.Security.Cryptography;
using Bastion.Fleet;
using Bastion.Logging;
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

    /// <summary>How long refusals of one outcome are counted into one log line after the first is logged in full.</summary>
    private static readonly TimeSpan RefusalLogInterval = TimeSpan.FromMinutes(1);

    public static string CommandSubject(string node) => "bastion.fleet.cmd." + node;

    public static string ReplySubject(string node) => "bastion.fleet.reply." + node;

    private sealed record Keys(Ed25519PrivateKey NodeKey, IReadOnlyList<SshPublicKey> Admins, AllowedSigners Signers, ReplayCache Replay);

    /// <summary>Creates the stream and this node's durable consumer; returns the consume loop, which ends only on failure.</summary>
    private async Task<Task> StartCommandsAsync(IComponentContext context, NatsConnection nats, NatsJSContext js, Keys keys, CancellationToken cancellationToken)
    {
        await js.CreateOrUpdateStreamAsync(new StreamConfig(CommandStream, ["bastion.fleet.cmd.>"])
        {
            MaxAge = FleetCommand.MaxLifetime, // a command is worthless after that anyway
            MaxMsgSize = FleetEnvelope.MaxSize, // an honest broker refuses a larger message at publish; the node would refuse it anyway
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
            // A broker can send refused messages without end: the first of each outcome per minute is logged with its
            // signer, the rest are counted into one line per outcome and minute (the log stays readable and bounded).
            var refusals = new RepeatedLines(RefusalLogInterval);
            long refused = 0;
            await foreach (var message in consumer.ConsumeAsync<byte[]>(opts: pull, cancellationToken: cancellationToken).ConfigureAwait(false))
            {
                var now = context.Time.GetUtcNow();
                var opened = FleetSeal.OpenCommand(message.Data ?? [], Fleet.Node, keys.NodeKey, keys.Signers, keys.Replay, now);
                if (opened.Accepted || refusals.Observe(opened.Outcome.ToString(), now))
                {
                    FleetLog.Command(logger, opened);
                }
                if (!opened.Accepted)
                {
                    context.SetDetail("commandsRefused", (++refused).ToString(System.Globalization.CultureInfo.InvariantCulture));
                }
                foreach (var repeats in refusals.Flush(now))
                {
                    FleetLog.RefusedRepeats(logger, repeats.Repeats, repeats.Line, (int)repeats.Over.TotalSeconds);
                }
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
                now = context.Time.GetUtcNow();
                var reply = new FleetReport(FleetReportKind.Reply, Fleet.Node, command.Nonce, body,
                    RandomNumberGenerator.GetBytes(FleetCommand.MinNonce), now, now + FleetCommand.MaxLifetime);
                await nats.PublishAsync(ReplySubject(Fleet.Node), FleetSeal.SealReport(reply, keys.NodeKey, keys.Admins), cancellationToken: cancellationToken)
                    .ConfigureAwait(false);
            }
        }, cancellationToken);
    }
}
