using System.CommandLine;
using Bastion.Config;
using Bastion.Fleet;
using NATS.Client.Core;
using NATS.Client.JetStream;

namespace Bastion.Cli;

/// <summary>
/// <c>bastionctl fleet send NODE COMMAND… --servers URL --nodes FILE [--key FILE]</c>: signs the command with the admin's
/// ssh-ed25519 key, encrypts it to the node's key from the node list, stores it in the broker's command stream (so a node
/// that is offline gets it when it reconnects, while the command is valid) and waits for the node's reply, accepted only
/// when signed by that node's key and answering this very command. Exit 0 when the node did it, 1 when it refused or did
/// not answer in time, 3 when the broker is unreachable, 4 when the broker misbehaves (oversized
/// messages, a flood of replies that are not ours, a connection cut mid-wait).
/// </summary>
internal sealed class FleetSendCommand(CliConsole console)
{
    private static readonly TimeSpan BrokerTimeout = TimeSpan.FromSeconds(10);

    /// <summary>How many messages on the reply subject that are not this command's reply are opened before giving up.</summary>
    public const int MaxStrayReplies = 64;

    private readonly Argument<string> _node = new("NODE") { Description = "The node's name in the node list" };

    private readonly Argument<string[]> _command = new("COMMAND")
    {
        Description = "status | reload | restart KIND/NAME | vnc start [--for D] | vnc stop | vnc auto (put -- before a command with options: -- vnc start --for 10m)",
        Arity = ArgumentArity.OneOrMore,
    };

    private readonly Option<string[]> _servers = new("--servers") { Description = "NATS server URL(s) of the fleet's broker", HelpName = "URL", Required = true };

    private readonly Option<string> _nodes = new("--nodes") { Description = "The admins' node list (`NODE ssh-ed25519 BASE64` lines)", HelpName = "FILE", Required = true };

    private readonly Option<string> _key = new("--key")
    {
        Description = "Your ssh-ed25519 private key, or (with the key in ssh-agent) its .pub or a passphrase-protected private key file [default: ~/.ssh/id_ed25519]",
        HelpName = "FILE",
    };

    private readonly Option<bool> _agent = new("--agent")
    {
        Description = "Sign through ssh-agent (SSH_AUTH_SOCK); without --key, with the agent's only key. Implied when --key is a public key or a passphrase-protected file",
    };

    private readonly Option<string?> _credentials = new("--credentials") { Description = "credentials file for the broker: a NATS .creds file, or two lines (user, password) as fleet.credentials", HelpName = "FILE" };

    private readonly Option<string> _timeout = new("--timeout")
    {
        Description = "How long the command stays valid and how long to wait for the reply (at most 15m)",
        HelpName = "DURATION",
        DefaultValueFactory = _ => "60s",
    };

    public Command Create()
    {
        var send = new Command("send", "Send a signed, encrypted break-glass command to one node through the broker and wait for its signed reply")
        {
            _node, _command, _servers, _nodes, _key, _agent, _credentials, _timeout,
        };
        send.TreatUnmatchedTokensAsErrors = true;
        send.SetAction(parse => console.Run(() => Run(parse)));
        return send;
    }

    private int Run(ParseResult parse)
    {
        var node = parse.GetValue(_node)!;
        var words = parse.GetValue(_command)!;
        if (!Durations.TryParse(parse.GetValue(_timeout)!, out var timeout, out var error) || timeout <= TimeSpan.Zero || timeout > FleetCommand.MaxLifetime)
        {
            throw new CommandException(ExitCodes.Usage, $"--timeout: {error ?? "must be more than 0s and at most 15m"}");
        }
        var nodes = FleetNodeList.Load(parse.GetValue(_nodes)!);
        var nodeKey = nodes.FirstOrDefault(n => n.Node == node).Key
            ?? throw new CommandException(ExitCodes.Usage, $"node '{node}' is not in {parse.GetValue(_nodes)}");
        using var signer = FleetSigner.Open(parse.GetValue(_key), parse.GetValue(_agent), Environment.GetEnvironmentVariable("SSH_AUTH_SOCK"));
        var command = FleetCommand.Create(node, words[0], words[1..], console.Time.GetUtcNow(), timeout);
        var payload = command.Encode();
        var envelope = FleetSeal.SealSigned(payload, signer.Sign(payload), [nodeKey]);
        var servers = parse.GetValue(_servers)!.SelectMany(s => s.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).ToList();
        var reply = SendAsync(servers, parse.GetValue(_credentials), command, envelope, nodeKey, signer.ReplyKey, timeout).GetAwaiter().GetResult();
        if (reply is null)
        {
            // Signed through ssh-agent, and no readable private key: the reply is sealed to a key only the agent holds.
            console.Output.WriteLine($"{node}: stored: signed through ssh-agent with {signer.Key.Fingerprint}, valid for {Durations.Format(timeout)}; not confirmed");
            console.Message($"{node}'s reply is sealed to your key, which only ssh-agent holds, and an agent can sign but not decrypt: " +
                "pass a readable private key file as --key together with --agent to wait for the reply, or see the result with `bastionctl fleet status`");
            // Not confirmed is not success: exit 1, as for a reload that was not confirmed, so a script never reads it as done.
            return ExitCodes.Failed;
        }
        console.Output.WriteLine($"{node}: {reply}");
        return reply.StartsWith("ok:", StringComparison.Ordinal) ? ExitCodes.Ok : ExitCodes.Failed;
    }

    /// <returns>The reply's body; null when <paramref name="adminKey"/> is null (the command was stored, the reply cannot be read).</returns>
    private async Task<string?> SendAsync(IReadOnlyList<string> servers, string? credentials, FleetCommand command, byte[] envelope,
        SshPublicKey nodeKey, Ed25519PrivateKey? adminKey, TimeSpan timeout)
    {
        var where = string.Join(", ", servers);
        var nats = new NatsConnection(FleetStatusCommand.Options(servers, credentials, "bastionctl fleet send"));
        await using (new QuietDisposal(nats).ConfigureAwait(false))
        {
            try
            {
                await nats.ConnectAsync().AsTask().WaitAsync(BrokerTimeout).ConfigureAwait(false);
            }
            catch (Exception e) when (e is NatsException or TimeoutException)
            {
                throw new CommandException(ExitCodes.DaemonUnreachable, $"cannot reach the broker {where}: {FleetStatusCommand.Innermost(e)}");
            }
            using var dropped = FleetStatusCommand.WatchForDrop(nats);
            using var deadline = new CancellationTokenSource(timeout, console.Time);
            using var wait = CancellationTokenSource.CreateLinkedTokenSource(deadline.Token, dropped.Token);
            // Subscribed before sending, so a fast reply is not missed.
            var replies = await nats.SubscribeCoreAsync<byte[]>("bastion.fleet.reply." + command.Node, cancellationToken: deadline.Token).ConfigureAwait(false);
            await using (new QuietDisposal(replies).ConfigureAwait(false))
            {
                try
                {
                    var ack = await new NatsJSContext(nats).PublishAsync("bastion.fleet.cmd." + command.Node, envelope, cancellationToken: deadline.Token)
                        .AsTask().WaitAsync(BrokerTimeout, console.Time, wait.Token).ConfigureAwait(false);
                    ack.EnsureSuccess();
                }
                catch (Exception e) when (dropped.IsCancellationRequested && e is NatsException or TimeoutException or OperationCanceledException)
                {
                    throw new CommandException(ExitCodes.BrokerMisbehaved, FleetStatusCommand.DroppedMessage(where) + "; the command may not be stored");
                }
                catch (Exception e) when (e is NatsException or TimeoutException or OperationCanceledException)
                {
                    throw new CommandException(ExitCodes.Failed,
                        $"the broker {where} did not store the command: {FleetStatusCommand.Innermost(e)} (a node creates the command stream when it first connects)");
                }
                if (adminKey is null)
                {
                    return null;
                }
                console.Message($"command stored on the broker; waiting up to {Durations.Format(timeout)} for {command.Node}'s signed reply…");
                // Bounded whatever the broker does: each message is at most MaxMessageSize (larger ones cut the connection),
                // at most MaxStrayReplies messages that are not our reply are opened, and all of it ends at the deadline.
                var stray = 0;
                var oversized = 0;
                try
                {
                    await foreach (var message in replies.Msgs.ReadAllAsync(wait.Token).ConfigureAwait(false))
                    {
                        var data = message.Data ?? [];
                        if (data.Length > FleetEnvelope.MaxSize)
                        {
                            oversized++;
                        }
                        else
                        {
                            var opened = FleetSeal.OpenReport(data, command.Node, nodeKey, adminKey, console.Time.GetUtcNow());
                            if (opened.Message is { Kind: FleetReportKind.Reply } reply && reply.InReplyTo.AsSpan().SequenceEqual(command.Nonce))
                            {
                                return reply.Body;
                            }
                        }
                        // Another admin's reply, or a forgery: not ours, keep waiting — up to a point.
                        if (++stray >= MaxStrayReplies)
                        {
                            throw new CommandException(ExitCodes.BrokerMisbehaved,
                                $"the broker {where} delivered {stray} messages on {command.Node}'s reply subject that are not the reply to this command ({oversized} larger than any fleet envelope); stopped waiting. The command stays on the broker until it expires");
                        }
                    }
                }
                catch (OperationCanceledException) when (wait.IsCancellationRequested)
                {
                }
                if (!dropped.IsCancellationRequested && deadline.IsCancellationRequested)
                {
                    if (oversized > 0)
                    {
                        throw new CommandException(ExitCodes.BrokerMisbehaved,
                            $"no signed reply from {command.Node} within {Durations.Format(timeout)}, and the broker {where} delivered {oversized} messages larger than any fleet envelope on its reply subject (not read)");
                    }
                    throw new CommandException(ExitCodes.Failed,
                        $"no signed reply from {command.Node} within {Durations.Format(timeout)}; the command stays on the broker until it expires, and the node runs it when it reconnects before then");
                }
                // The connection was cut before the deadline: by the broker, or by the client because the broker announced a
                // message larger than bastionctl accepts.
                throw new CommandException(ExitCodes.BrokerMisbehaved,
                    FleetStatusCommand.DroppedMessage(where) + $"; no reply from {command.Node} was read, and the command stays on the broker until it expires");
            }
        }
    }
}
