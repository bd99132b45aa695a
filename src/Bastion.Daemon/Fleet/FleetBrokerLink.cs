using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Bastion.Config;
using Bastion.Daemon.Components;
using Bastion.Fleet;
using Bastion.Status;
using Bastion.Supervision;
using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.KeyValueStore;
using Microsoft.Extensions.Logging;

namespace Bastion.Daemon.Fleet;

/// <summary>
/// The <c>fleet/nats</c> component: one outbound connection to the fleet's NATS broker. Running while connected;
/// Degraded with the reason while the broker cannot be reached, reconnecting on the supervisor's backoff rule
/// (<see cref="RestartSchedule"/>). Every status interval (and at once after each connect) it puts the daemon's status,
/// signed with the node key and encrypted to every ssh-ed25519 admin of allowed_signers, into the JetStream KV bucket
/// <see cref="FleetLinkDefinition.StatusBucket"/> under the node's name: the broker only ever holds ciphertext.
/// Nothing here touches the other ways in: a dead broker is this component's state and nobody else's.
/// </summary>
internal sealed partial class FleetBrokerLink(FleetLinkDefinition definition, DaemonRuntime runtime, ILogger logger) : IComponent
{
    /// <summary>How long a connect or a put may take before the broker counts as unreachable.</summary>
    private static readonly TimeSpan BrokerTimeout = TimeSpan.FromSeconds(10);

    /// <summary>A status stays valid for three intervals: an admin's <c>fleet status</c> flags a node silent after that.</summary>
    public const int SilentAfterIntervals = 3;

    /// <summary>The largest incoming message: a command envelope plus room for the JetStream API's own replies.</summary>
    private const int MaxIncoming = 2 * FleetEnvelope.MaxSize;

    private FleetConfig Fleet => definition.Fleet;

    public async Task RunAsync(IComponentContext context, CancellationToken cancellationToken)
    {
        var (nodeKey, admins, signers) = LoadKeys();
        using var key = nodeKey;
        using var trust = Fleet.Ca is { } ca ? FleetBrokerTrust.Load(ca) : null;
        var replay = new ReplayCache(Path.Combine(definition.StateDir, "fleet", "replay"), context.Time);
        context.SetDetail("servers", definition.Brokers);
        context.SetDetail("bucket", FleetLinkDefinition.StatusBucket);
        context.SetDetail("node", Fleet.Node);
        context.SetDetail("readers", admins.Count.ToString(CultureInfo.InvariantCulture));
        context.SetDetail("tlsTrust", Fleet.Ca is { } caFile ? "fleet.ca " + caFile : "system CA store (for tls:// servers)");
        var schedule = new RestartSchedule(new BackoffPolicy(definition.Backoff), definition.Backoff.ResetAfter);
        while (true)
        {
            // Read at every attempt: a password fixed on disk is used at the next reconnect, without a reload.
            var credentials = LoadCredentials();
            // The kind and the user name only: never the password.
            context.SetDetail("credentials", credentials?.ToString() ?? "none");
            var reason = await ConnectAndPublishAsync(context, Options(credentials, trust), trust, new Keys(key, admins, signers, replay), schedule, cancellationToken).ConfigureAwait(false);
            var delay = schedule.Ended(context.Time.GetUtcNow());
            // Stable wording while the broker stays away, so the state does not churn on every attempt.
            context.ReportDegraded($"broker {definition.Brokers} unreachable: {reason}; reconnecting with backoff (every other way in is unaffected)");
            context.SetDetail("nextAttempt", (context.Time.GetUtcNow() + delay).ToString("O", CultureInfo.InvariantCulture));
            await Task.Delay(delay, context.Time, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>One connection: runs until it is lost; returns why, in words for the Degraded reason.</summary>
    private async Task<string> ConnectAndPublishAsync(
        IComponentContext context, NatsOpts options, FleetBrokerTrust? trust, Keys keys, RestartSchedule schedule, CancellationToken cancellationToken)
    {
        var (nodeKey, admins, _, _) = keys;
        var lost = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        trust?.TakeProblem(); // this attempt's refusal only
        var nats = new NatsConnection(options);
        using var stopCommands = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        await using (nats.ConfigureAwait(false))
        {
            nats.ConnectionDisconnected += (_, e) =>
            {
                lost.TrySetResult(string.IsNullOrEmpty(e.Message) ? "connection lost" : "connection lost (" + e.Message + ")");
                return ValueTask.CompletedTask;
            };
            try
            {
                await nats.ConnectAsync().AsTask().WaitAsync(BrokerTimeout, context.Time, cancellationToken).ConfigureAwait(false);
                schedule.Started(context.Time.GetUtcNow());
                var js = new NatsJSContext(nats);
                var kv = new NatsKVContext(js);
                var store = await kv.CreateOrUpdateStoreAsync(new NatsKVConfig(FleetLinkDefinition.StatusBucket) { History = 1 }, cancellationToken)
                    .AsTask().WaitAsync(BrokerTimeout, context.Time, cancellationToken).ConfigureAwait(false);
                var commands = await StartCommandsAsync(context, nats, js, keys, stopCommands.Token).ConfigureAwait(false);
                _ = commands.ContinueWith(t => lost.TrySetResult("command consumer ended: " + (t.Exception is { } e ? Describe(e) : "closed")),
                    CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
                context.ReportRunning($"connected to broker {definition.Brokers}; status every {Durations.Format(Fleet.StatusInterval)}");
                while (true)
                {
                    await PublishStatusAsync(context, store, nodeKey, admins, cancellationToken).ConfigureAwait(false);
                    var tick = Task.Delay(Fleet.StatusInterval, context.Time, cancellationToken);
                    if (await Task.WhenAny(tick, lost.Task).ConfigureAwait(false) == lost.Task)
                    {
                        return await lost.Task.ConfigureAwait(false);
                    }
                    await tick.ConfigureAwait(false); // throws when cancelled
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                throw;
            }
            catch (TimeoutException)
            {
                if (lost.Task.IsCompleted)
                {
                    return await lost.Task.ConfigureAwait(false);
                }
                return trust?.TakeProblem() is { } problem and not BrokerCertificateProblem.None
                    ? FleetBrokerTrust.Describe(problem, Fleet.Ca!)
                    : $"no answer within {Durations.Format(BrokerTimeout)}";
            }
#pragma warning disable CA1031 // Whatever the client library throws, a broker problem is this component's state, never a crash.
            catch (Exception e)
#pragma warning restore CA1031
            {
                return Reason(e, trust);
            }
            finally
            {
                // The command consumer belongs to this connection.
                await stopCommands.CancelAsync().ConfigureAwait(false);
            }
        }
    }

    private async Task PublishStatusAsync(
        IComponentContext context, INatsKVStore store, Ed25519PrivateKey nodeKey, IReadOnlyList<SshPublicKey> admins, CancellationToken cancellationToken)
    {
        var now = context.Time.GetUtcNow();
        var report = new FleetReport(FleetReportKind.Status, Fleet.Node, [], await StatusBodyAsync(context, cancellationToken).ConfigureAwait(false),
            RandomNumberGenerator.GetBytes(FleetCommand.MinNonce), now, now + SilentAfterIntervals * Fleet.StatusInterval);
        var sealedReport = FleetSeal.SealReport(report, nodeKey, admins);
        var revision = await store.PutAsync(Fleet.Node, sealedReport, cancellationToken: cancellationToken)
            .AsTask().WaitAsync(BrokerTimeout, context.Time, cancellationToken).ConfigureAwait(false);
        context.SetDetail("lastPublished", now.ToString("O", CultureInfo.InvariantCulture));
        context.SetDetail("revision", revision.ToString(CultureInfo.InvariantCulture));
    }

    /// <summary>The daemon's status JSON (as <c>bastionctl status --json</c> shows it); only the summary line when that is too large.</summary>
    private async Task<string> StatusBodyAsync(IComponentContext context, CancellationToken cancellationToken)
    {
        // At start the control loop publishes its first snapshot right after starting the components.
        var waited = TimeSpan.Zero;
        while (runtime.Status.Last is null && waited < BrokerTimeout)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(100), context.Time, cancellationToken).ConfigureAwait(false);
            waited += TimeSpan.FromMilliseconds(100);
        }
        var now = context.Time.GetUtcNow();
        var snapshot = runtime.Status.Last ?? new StatusSnapshot
        {
            Daemon = new DaemonStatus
            {
                Pid = Environment.ProcessId, Version = DaemonVersion.Text, State = "starting", Summary = "starting", ConfigPath = "",
                StartedAt = now, WrittenAt = now,
            },
        };
        var json = StatusFile.Serialize(snapshot);
        if (Encoding.UTF8.GetByteCount(json) <= FleetReport.MaxBody / 2)
        {
            return json;
        }
        return StatusFile.Serialize(snapshot with { Components = [] });
    }

    private NatsOpts Options(FleetCredentials? credentials, FleetBrokerTrust? trust)
    {
        var options = NatsOpts.Default with
        {
            Url = string.Join(",", Fleet.Servers),
            Name = "bastiond " + Fleet.Node,
            ConnectTimeout = BrokerTimeout,
            // This component reconnects on the supervisor's backoff rule; the library's own loop would hide the outage.
            MaxReconnectRetry = 0,
            RetryOnInitialConnect = false,
            // The largest message the node has a use for is a command envelope; a broker sending more (up to the library's
            // 64 MB default, times the messages a pull may buffer) only costs memory, so the client refuses it.
            MaxPayloadHardCap = MaxIncoming,
        };
        if (credentials is not null)
        {
            options = options with { AuthOpts = AuthOptions(credentials, Fleet.Credentials!) };
        }
        if (trust is not null)
        {
            // fleet.ca: TLS on every server, verified against that CA only (and the host name).
            options = options with
            {
                TlsOpts = new NatsTlsOpts
                {
                    Mode = NATS.Client.Core.TlsMode.Require,
                    ConfigureClientAuthentication = client =>
                    {
                        client.RemoteCertificateValidationCallback = trust.Validate;
                        return ValueTask.CompletedTask;
                    },
                },
            };
        }
        return options;
    }

    /// <summary>The node key and the admins who may read the status; a problem here needs an admin, so it is a failure with the fix.</summary>
    private (Ed25519PrivateKey Key, IReadOnlyList<SshPublicKey> Admins, AllowedSigners Signers) LoadKeys()
    {
        var (signers, errors) = AllowedSigners.Load(Fleet.AllowedSigners);
        if (signers is null || errors.Count > 0)
        {
            throw new ComponentFailureException($"{Fleet.AllowedSigners} is unusable ({(errors.Count > 0 ? errors[0].ToString() : "cannot be read")}) — fix it and reload");
        }
        var admins = signers.Ed25519Keys();
        if (admins.Count == 0)
        {
            throw new ComponentFailureException($"{Fleet.AllowedSigners} lists no ssh-ed25519 key, so no admin could read this node's status — add one and reload");
        }
        try
        {
            return (FleetNodeKey.Load(FleetNodeKey.PathIn(definition.StateDir)), admins, signers);
        }
        catch (NodeKeyException e)
        {
            throw new ComponentFailureException(e.Message, e);
        }
    }

    /// <summary>The innermost message (a socket's "Connection refused" under the client's "can not connect uris").</summary>
    private static string Describe(Exception e)
    {
        while (e.InnerException is { } inner)
        {
            e = inner;
        }
        return e.Message;
    }
}
