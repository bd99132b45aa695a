using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Serialization;
using Bastion.Config;
using Bastion.Fleet;
using Bastion.Status;
using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.KeyValueStore;

namespace Bastion.Cli;

/// <summary>
/// <c>bastionctl fleet status --servers URL --nodes FILE [--key FILE] [--json]</c>: every listed node's last status from
/// the broker's KV bucket, accepted only when signed by that node's key from the admin's node list and decrypted with the
/// admin's own ssh-ed25519 key. The broker is trusted with nothing: an entry it altered, forged or swapped is shown as
/// refused, never as a status. A node whose last status has expired (three of its status intervals) is flagged silent.
/// Exit 0 when every node is fresh; 1 when any is silent, missing or refused; 3 when the broker cannot be reached.
/// </summary>
internal sealed class FleetStatusCommand(CliConsole console)
{
    /// <summary>The bucket bastiond's fleet/nats component writes (one key per node).</summary>
    public const string StatusBucket = "bastion-fleet-status";

    private static readonly TimeSpan BrokerTimeout = TimeSpan.FromSeconds(10);

    private readonly Option<string[]> _servers = new("--servers")
    {
        Description = "NATS server URL(s) of the fleet's broker, e.g. tls://nats.example.org:4222 (repeat or separate with commas)",
        HelpName = "URL",
        Required = true,
        AllowMultipleArgumentsPerToken = false,
    };

    private readonly Option<string> _nodes = new("--nodes")
    {
        Description = "The admins' node list: one `NODE ssh-ed25519 BASE64` line per node (what `bastionctl fleet node-key` prints on each node)",
        HelpName = "FILE",
        Required = true,
    };

    private readonly Option<string> _key = new("--key")
    {
        Description = "Your ssh-ed25519 private key (listed in the nodes' allowed_signers) [default: ~/.ssh/id_ed25519]",
        HelpName = "FILE",
    };

    private readonly Option<string?> _credentials = new("--credentials")
    {
        Description = "credentials file for the broker, if it requires one: a NATS .creds file, or two lines (user, password) as fleet.credentials",
        HelpName = "FILE",
    };

    private readonly Option<bool> _json = new("--json") { Description = "Print JSON instead of a table" };

    private readonly Option<string> _timeout = new("--timeout")
    {
        Description = "How long reading every node's entry from the broker may take in all (a slow or stalling broker ends here)",
        HelpName = "DURATION",
        DefaultValueFactory = _ => "30s",
    };

    public Command Create()
    {
        var status = new Command("status", "Every node's last signed status from the fleet's broker, verified, decrypted and with its age")
        {
            _servers, _nodes, _key, _credentials, _json, _timeout,
        };
        status.SetAction(parse => console.Run(() => Run(parse)));
        return status;
    }

    private int Run(ParseResult parse)
    {
        if (!Durations.TryParse(parse.GetValue(_timeout)!, out var timeout, out var error) || timeout <= TimeSpan.Zero)
        {
            throw new CommandException(ExitCodes.Usage, $"--timeout: {error ?? "must be more than 0s"}");
        }
        var nodes = FleetNodeList.Load(parse.GetValue(_nodes)!);
        var keyPath = parse.GetValue(_key) ?? DefaultKeyPath;
        using var adminKey = LoadAdminKey(keyPath);
        var servers = parse.GetValue(_servers)!.SelectMany(s => s.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).ToList();
        var read = ReadBucketAsync(servers, parse.GetValue(_credentials), [.. nodes.Select(n => n.Node)], timeout).GetAwaiter().GetResult();
        var now = console.Time.GetUtcNow();
        var rows = nodes.Select(n => read.Unread.Contains(n.Node) ? FleetNodeStatus.Unread(n.Node, timeout)
            : FleetNodeStatus.From(n.Node, n.Key, read.Entries.GetValueOrDefault(n.Node), adminKey, now)).ToList();
        if (parse.GetValue(_json))
        {
            console.Output.WriteLine(JsonSerializer.Serialize(new FleetStatusReport { Nodes = rows }, FleetStatusJsonContext.Default.FleetStatusReport));
        }
        else
        {
            WriteTable(rows, now);
        }
        if (read.Unread.Count > 0 || rows.Any(r => r.State == FleetNodeState.Oversized))
        {
            console.Message(read.Unread.Count > 0
                ? $"the broker did not hand over {read.Unread.Count} of {nodes.Count} nodes' entries within {Durations.Format(timeout)} (--timeout)"
                : "the broker holds entries larger than any fleet status; they were not read (the broker or someone with write access to its bucket misbehaves)");
            return ExitCodes.BrokerMisbehaved;
        }
        return rows.All(r => r.State == FleetNodeState.Fresh) ? ExitCodes.Ok : ExitCodes.Failed;
    }

    private void WriteTable(List<FleetNodeStatus> rows, DateTimeOffset now)
    {
        var table = rows.Select(r => (r.Node, State: r.State.ToString().ToLowerInvariant(),
            Age: r.IssuedAt is { } at ? StatusTable.Ago(at, now) : "-", Summary: r.Summary ?? r.Problem ?? "")).ToList();
        var nodeWidth = Math.Max(4, table.Max(r => r.Node.Length));
        var stateWidth = Math.Max(5, table.Max(r => r.State.Length));
        var ageWidth = Math.Max(3, table.Max(r => r.Age.Length));
        console.Output.WriteLine($"{"NODE".PadRight(nodeWidth)}  {"STATE".PadRight(stateWidth)}  {"AGE".PadRight(ageWidth)}  SUMMARY");
        foreach (var row in table)
        {
            console.Output.WriteLine($"{row.Node.PadRight(nodeWidth)}  {row.State.PadRight(stateWidth)}  {row.Age.PadRight(ageWidth)}  {row.Summary}");
        }
    }

    public static string DefaultKeyPath => Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".ssh", "id_ed25519");

    /// <summary>
    /// The largest message bastionctl accepts from the broker: a fleet envelope (1 MiB) and room for NATS headers. A broker
    /// announcing a larger one has its connection cut by the client before the body is read (NATS.Net's hard cap), so a
    /// hostile broker cannot make bastionctl buffer more than this per message.
    /// </summary>
    public const int MaxMessageSize = FleetEnvelope.MaxSize + 64 * 1024;

    /// <summary>How many received messages may wait unread per subscription: bounds what a reply flood can make bastionctl hold.</summary>
    private const int PendingMessages = 16;

    public static NatsOpts Options(IReadOnlyList<string> servers, string? credentials, string name)
    {
        var options = NatsOpts.Default with
        {
            Url = string.Join(",", servers),
            Name = name,
            ConnectTimeout = BrokerTimeout,
            MaxReconnectRetry = 0,
            MaxPayloadHardCap = MaxMessageSize,
            SubPendingChannelCapacity = PendingMessages,
        };
        return credentials is null ? options : options with { AuthOpts = AuthOptions(credentials) };
    }

    /// <summary>The same two kinds of credentials file as the daemon's fleet.credentials: a NATS .creds file, or two lines
    /// (user, password). A file that is neither is refused with the reason; the password never appears in a message.</summary>
    private static NatsAuthOpts AuthOptions(string path)
    {
        FleetCredentials? parsed;
        FleetCredentialsProblem problem;
        try
        {
            (parsed, problem) = FleetCredentials.ReadFile(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CommandException(ExitCodes.Failed, $"--credentials: {path} cannot be read ({e.Message})");
        }
        return parsed switch
        {
            null => throw new CommandException(ExitCodes.Failed, $"--credentials: {FleetCredentials.Describe(problem, path)}"),
            { Kind: FleetCredentialsKind.NatsCreds } => NatsAuthOpts.Default with { CredsFile = path },
            _ => NatsAuthOpts.Default with { Username = parsed.User, Password = parsed.Password },
        };
    }

    /// <summary>The admin's private key, to decrypt what the nodes sealed to it (and to sign, when no agent is used).</summary>
    public static Ed25519PrivateKey LoadAdminKey(string path)
    {
        try
        {
            var text = File.ReadAllText(path);
            if (OpenSshKeyFile.ReadHeader(text) is { Encrypted: true })
            {
                // ssh-agent can sign fleet commands, but nothing here can decrypt through it.
                throw new CommandException(ExitCodes.Failed,
                    $"{path} is protected by a passphrase, and bastionctl never asks for one; reading what the nodes sealed to your key " +
                    "means decrypting with the key itself, which ssh-agent cannot do: use a copy without a passphrase (`ssh-keygen -p -f COPY`), " +
                    "kept as safe as the original (fleet send can sign through ssh-agent without it, but then cannot read the reply)");
            }
            return Ed25519PrivateKey.ParseOpenSsh(text);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CommandException(ExitCodes.Failed, $"cannot read your key {path}: {e.Message} — pass --key FILE (your ssh-ed25519 private key)");
        }
        catch (PrivateKeyException e)
        {
            throw new CommandException(ExitCodes.Failed, $"{path}: {e.Message}");
        }
    }

    /// <summary>What was read from the bucket: the listed nodes' entries, and the nodes whose entry did not come in time.</summary>
    private sealed record BucketRead(Dictionary<string, NatsKVEntry<byte[]>> Entries, HashSet<string> Unread);

    /// <summary>
    /// The raw entries of the listed nodes (absent when the node never published); exit 3 when the broker is unreachable.
    /// Bounded whatever the broker does: only the listed nodes' keys are asked for, one entry each (the bucket's key list
    /// is never read, so a broker holding a million bogus keys costs nothing), each message at most
    /// <see cref="MaxMessageSize"/>, and all of it within <paramref name="timeout"/>.
    /// </summary>
    private async Task<BucketRead> ReadBucketAsync(IReadOnlyList<string> servers, string? credentials, IReadOnlyList<string> nodes, TimeSpan timeout)
    {
        var options = Options(servers, credentials, "bastionctl fleet status");
        var where = string.Join(", ", servers);
        var nats = new NatsConnection(options);
        await using (new QuietDisposal(nats).ConfigureAwait(false))
        {
            try
            {
                await nats.ConnectAsync().AsTask().WaitAsync(BrokerTimeout).ConfigureAwait(false);
            }
            catch (Exception e) when (e is NatsException or TimeoutException)
            {
                throw new CommandException(ExitCodes.DaemonUnreachable, $"cannot reach the broker {where}: {Innermost(e)}");
            }
            using var dropped = WatchForDrop(nats);
            var result = new BucketRead(new(StringComparer.Ordinal), new(StringComparer.Ordinal));
            var time = console.Time;
            var started = time.GetTimestamp();
            TimeSpan Left() => timeout - time.GetElapsedTime(started);
            // Each wait is the broker's usual allowance, or what is left of the total when less. Whether the last wait was
            // bounded by the total is remembered rather than judged afterwards from the clock: a timer may fire a moment
            // before the deadline's timestamp, and that timeout is still --timeout's, not an unanswering broker.
            var boundByTotal = false;
            TimeSpan Wait()
            {
                var left = Left();
                boundByTotal = left < BrokerTimeout;
                return boundByTotal ? (left > TimeSpan.Zero ? left : TimeSpan.Zero) : BrokerTimeout;
            }
            try
            {
                var kv = new NatsKVContext(new NatsJSContext(nats));
                INatsKVStore store;
                try
                {
                    store = await kv.GetStoreAsync(StatusBucket).AsTask().WaitAsync(Wait(), time, dropped.Token).ConfigureAwait(false);
                }
                catch (NatsKVException)
                {
                    return result; // no node has published yet: every node is missing
                }
                catch (NatsJSApiException e) when (e.Error.Code == 404)
                {
                    return result;
                }
                foreach (var node in nodes)
                {
                    if (Left() <= TimeSpan.Zero)
                    {
                        result.Unread.Add(node);
                        continue;
                    }
                    try
                    {
                        result.Entries[node] = await store.GetEntryAsync<byte[]>(node).AsTask().WaitAsync(Wait(), time, dropped.Token).ConfigureAwait(false);
                    }
                    catch (TimeoutException) when (boundByTotal)
                    {
                        result.Unread.Add(node);
                    }
                    catch (NatsKVKeyNotFoundException)
                    {
                        // missing
                    }
                    catch (NatsKVKeyDeletedException)
                    {
                        // deleted by someone with broker access: missing
                    }
                }
            }
            catch (Exception e) when (dropped.IsCancellationRequested && e is NatsException or TimeoutException or OperationCanceledException)
            {
                throw new CommandException(ExitCodes.BrokerMisbehaved, DroppedMessage(where));
            }
            catch (TimeoutException) when (boundByTotal)
            {
                throw new CommandException(ExitCodes.BrokerMisbehaved,
                    $"the broker {where} did not hand over the status bucket within {Durations.Format(timeout)} (--timeout)");
            }
            catch (Exception e) when (e is NatsException or TimeoutException)
            {
                throw new CommandException(ExitCodes.DaemonUnreachable, $"the broker {where} did not answer: {Innermost(e)}");
            }
            return result;
        }
    }

    /// <summary>
    /// Cancelled when the connection drops. bastionctl never reconnects, and a drop in the middle of a read is what
    /// NATS.Net does when the broker announces a message above <see cref="MaxMessageSize"/>: not an unreachable broker but
    /// one that misbehaves.
    /// </summary>
    public static CancellationTokenSource WatchForDrop(NatsConnection nats)
    {
        ArgumentNullException.ThrowIfNull(nats);
        var dropped = new CancellationTokenSource();
        nats.ConnectionDisconnected += (_, _) =>
        {
            try
            {
                dropped.Cancel();
            }
            catch (ObjectDisposedException)
            {
                // the command is over
            }
            return ValueTask.CompletedTask;
        };
        return dropped;
    }

    public static string DroppedMessage(string where) =>
        $"the connection to the broker {where} dropped in the middle of the exchange; a broker that announces a message larger than "
        + $"{MaxMessageSize} bytes (more than any fleet envelope) is cut off rather than read — the broker misbehaves or was restarted";

    public static string Innermost(Exception e)
    {
        while (e.InnerException is { } inner)
        {
            e = inner;
        }
        return e.Message;
    }
}

/// <summary>Where a node stands in <c>fleet status</c>.</summary>
internal enum FleetNodeState
{
    /// <summary>A valid status signed by the node's key, within its validity (three status intervals).</summary>
    Fresh,

    /// <summary>Authentic, but older than three of the node's status intervals: the node has gone quiet.</summary>
    Silent,

    /// <summary>No status in the bucket.</summary>
    Missing,

    /// <summary>The entry is not a valid status of this node for this admin (altered, forged, misrouted, not for you).</summary>
    Refused,

    /// <summary>The entry is larger than any fleet envelope: not read (the broker misbehaves).</summary>
    Oversized,

    /// <summary>The broker did not hand over the entry within the total time limit.</summary>
    Unanswered,
}

/// <summary>One row of <c>fleet status</c> (also its JSON).</summary>
internal sealed record FleetNodeStatus
{
    public required string Node { get; init; }

    [JsonConverter(typeof(JsonStringEnumConverter<FleetNodeState>))]
    public required FleetNodeState State { get; init; }

    /// <summary>When the node signed this status (its own clock).</summary>
    public DateTimeOffset? IssuedAt { get; init; }

    public string? Summary { get; init; }

    /// <summary>Why the row is not fresh, in words.</summary>
    public string? Problem { get; init; }

    /// <summary>The node's whole status (what <c>bastionctl status --json</c> shows on the node), when it could be read.</summary>
    public StatusSnapshot? Status { get; init; }

    public static FleetNodeStatus From(string node, SshPublicKey nodeKey, NatsKVEntry<byte[]>? entry, Ed25519PrivateKey adminKey, DateTimeOffset now)
    {
        if (entry is not { Value: { } value })
        {
            return new() { Node = node, State = FleetNodeState.Missing, Problem = "no status in the broker's bucket (never published, or removed)" };
        }
        if (value.Length > FleetEnvelope.MaxSize)
        {
            return new()
            {
                Node = node,
                State = FleetNodeState.Oversized,
                Problem = $"REFUSED: the broker's entry is {value.Length} bytes, larger than any fleet status ({FleetEnvelope.MaxSize}); not read",
            };
        }
        var opened = FleetSeal.OpenReport(value, node, nodeKey, adminKey, now);
        var state = FleetNodeState.Fresh;
        if (opened.Outcome == FleetOutcome.Expired)
        {
            // Authentic but old (the window is checked last): open it again at the broker's time of storing it to learn
            // how old. A broker lying about that time gains nothing: the age shown is the node's own signed time.
            opened = FleetSeal.OpenReport(value, node, nodeKey, adminKey, entry.Value.Created);
            state = FleetNodeState.Silent;
        }
        if (!opened.Accepted || opened.Message is not { Kind: FleetReportKind.Status } report)
        {
            return new()
            {
                Node = node,
                State = state == FleetNodeState.Silent ? FleetNodeState.Silent : FleetNodeState.Refused,
                Problem = state == FleetNodeState.Silent ? "last status expired (silent for more than three status intervals)" : Refusal(opened.Outcome),
            };
        }
        var status = ParseStatus(report.Body);
        return new()
        {
            Node = node,
            State = state,
            IssuedAt = report.IssuedAt,
            Summary = (state == FleetNodeState.Silent ? "SILENT (no status for more than three intervals); last: " : "") + (status?.Daemon.Summary ?? report.Body),
            Problem = state == FleetNodeState.Silent ? "silent for more than three status intervals" : null,
            Status = status,
        };
    }

    public static FleetNodeStatus Unread(string node, TimeSpan timeout) => new()
    {
        Node = node,
        State = FleetNodeState.Unanswered,
        Problem = $"the broker did not hand over this node's entry within {Durations.Format(timeout)}",
    };

    /// <summary>The node's status JSON; null when it is something else (the summary then shows the body as text).</summary>
    private static StatusSnapshot? ParseStatus(string body)
    {
        try
        {
            return StatusFile.Deserialize(body);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>The refusal in words (made here, at the edge).</summary>
    private static string Refusal(FleetOutcome outcome) => outcome switch
    {
        FleetOutcome.NotRecipient => "REFUSED: not encrypted to your key (is it listed in the node's allowed_signers?)",
        FleetOutcome.Tampered => "REFUSED: altered on the way (the ciphertext does not authenticate)",
        FleetOutcome.Malformed => "REFUSED: not a fleet status envelope",
        FleetOutcome.Unsigned => "REFUSED: not signed",
        FleetOutcome.BadSignature => "REFUSED: the signature does not verify",
        FleetOutcome.UnknownSigner => "REFUSED: signed by a key other than this node's key in your node list",
        FleetOutcome.WrongNode => "REFUSED: a status of another node stored under this node's name",
        FleetOutcome.NotYetValid => "REFUSED: issued in the future (check the node's clock)",
        _ => "REFUSED: " + outcome,
    };
}

internal sealed record FleetStatusReport
{
    public required IReadOnlyList<FleetNodeStatus> Nodes { get; init; }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = true)]
[JsonSerializable(typeof(FleetStatusReport))]
internal sealed partial class FleetStatusJsonContext : JsonSerializerContext;
