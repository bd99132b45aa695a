using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Serialization;
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
        Description = "NATS credentials file (.creds) for the broker, if it requires one",
        HelpName = "FILE",
    };

    private readonly Option<bool> _json = new("--json") { Description = "Print JSON instead of a table" };

    public Command Create()
    {
        var status = new Command("status", "Every node's last signed status from the fleet's broker, verified, decrypted and with its age")
        {
            _servers, _nodes, _key, _credentials, _json,
        };
        status.SetAction(parse => console.Run(() => Run(parse)));
        return status;
    }

    private int Run(ParseResult parse)
    {
        var nodes = FleetNodeList.Load(parse.GetValue(_nodes)!);
        var keyPath = parse.GetValue(_key) ?? DefaultKeyPath;
        using var adminKey = LoadAdminKey(keyPath);
        var servers = parse.GetValue(_servers)!.SelectMany(s => s.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).ToList();
        var entries = ReadBucketAsync(servers, parse.GetValue(_credentials), [.. nodes.Select(n => n.Node)]).GetAwaiter().GetResult();
        var now = console.Time.GetUtcNow();
        var rows = nodes.Select(n => FleetNodeStatus.From(n.Node, n.Key, entries.GetValueOrDefault(n.Node), adminKey, now)).ToList();
        if (parse.GetValue(_json))
        {
            console.Output.WriteLine(JsonSerializer.Serialize(new FleetStatusReport { Nodes = rows }, FleetStatusJsonContext.Default.FleetStatusReport));
        }
        else
        {
            WriteTable(rows, now);
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

    public static NatsOpts Options(IReadOnlyList<string> servers, string? credentials, string name)
    {
        var options = NatsOpts.Default with
        {
            Url = string.Join(",", servers),
            Name = name,
            ConnectTimeout = BrokerTimeout,
            MaxReconnectRetry = 0,
        };
        return credentials is null ? options : options with { AuthOpts = NatsAuthOpts.Default with { CredsFile = credentials } };
    }

    public static Ed25519PrivateKey LoadAdminKey(string path)
    {
        try
        {
            return Ed25519PrivateKey.ParseOpenSsh(File.ReadAllText(path));
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

    /// <summary>The raw entries of the listed nodes (absent when the node never published); exit 3 when the broker is unreachable.</summary>
    private static async Task<Dictionary<string, NatsKVEntry<byte[]>>> ReadBucketAsync(IReadOnlyList<string> servers, string? credentials, IReadOnlyList<string> nodes)
    {
        var options = Options(servers, credentials, "bastionctl fleet status");
        var where = string.Join(", ", servers);
        var nats = new NatsConnection(options);
        await using (nats.ConfigureAwait(false))
        {
            try
            {
                await nats.ConnectAsync().AsTask().WaitAsync(BrokerTimeout).ConfigureAwait(false);
            }
            catch (Exception e) when (e is NatsException or TimeoutException)
            {
                throw new CommandException(ExitCodes.DaemonUnreachable, $"cannot reach the broker {where}: {Innermost(e)}");
            }
            var result = new Dictionary<string, NatsKVEntry<byte[]>>(StringComparer.Ordinal);
            try
            {
                var kv = new NatsKVContext(new NatsJSContext(nats));
                INatsKVStore store;
                try
                {
                    store = await kv.GetStoreAsync(StatusBucket).AsTask().WaitAsync(BrokerTimeout).ConfigureAwait(false);
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
                    try
                    {
                        result[node] = await store.GetEntryAsync<byte[]>(node).AsTask().WaitAsync(BrokerTimeout).ConfigureAwait(false);
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
            catch (Exception e) when (e is NatsException or TimeoutException)
            {
                throw new CommandException(ExitCodes.DaemonUnreachable, $"the broker {where} did not answer: {Innermost(e)}");
            }
            return result;
        }
    }

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
