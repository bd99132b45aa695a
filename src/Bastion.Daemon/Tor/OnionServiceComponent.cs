using System.Globalization;
using System.Net.Sockets;
using System.Text;
using Bastion.Supervision;
using Bastion.Tor;
using Microsoft.Extensions.Logging;

namespace Bastion.Daemon.Tor;

/// <summary>
/// An <c>onion.services[]</c> entry. Waits for the tor session, adds the service (the stored key, or a new
/// ED25519-V3 key saved once), then: adding → published (an HS_DESC UPLOADED for its address) → reachable (the
/// self-test connects to the own address through the SocksPort and reads the target's first line). When tor goes,
/// it waits for the next session and adds the service again with the same key.
/// </summary>
internal sealed class OnionServiceComponent(OnionServiceDefinition definition, TorRuntime runtime, ILogger logger) : IComponent
{
    private static readonly TimeSpan SelfTestTimeout = TimeSpan.FromSeconds(20);
    private static readonly TimeSpan RetryInterval = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan RecheckInterval = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan PublishPatience = TimeSpan.FromMinutes(2);
    private string Name => definition.Service.Name;

    /// <summary>Descriptor uploads (HS_DESC UPLOADED, one per HSDir) seen by this component.</summary>
    private int _uploads;

    public async Task RunAsync(IComponentContext context, CancellationToken cancellationToken)
    {
        var ports = string.Join(',', definition.Service.Ports.Select(p => $"{p.Virtual}->{p.Target}"));
        context.SetDetail("ports", ports);
        // Before any failure: `bastionctl onion client remove` needs it to fix a bad client file.
        context.SetDetail("clientsDir", definition.ClientsDir);
        if (definition.ClientsError is { } clientsError)
        {
            throw new ComponentFailureException(clientsError);
        }
        var clients = definition.AllClients;
        context.SetDetail("clients", clients.Count == 0 ? "anyone with the address" : string.Join(',', clients.Select(c => c.Name)));
        // Fail before waiting for tor: a damaged key is the admin's to fix, and must never become a new address.
        _ = OnionKeyStore.Load(definition.KeyFile);
        while (true)
        {
            if (!runtime.WaitAsync(CancellationToken.None).IsCompleted)
            {
                context.SetDetail("state", "waiting");
                context.ReportDegraded("waiting for tor: " + runtime.WaitingReason);
            }
            var session = await runtime.WaitAsync(cancellationToken).ConfigureAwait(false);
            await RunInSessionAsync(context, session, ports, clients, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task RunInSessionAsync(IComponentContext context, TorSession session, string ports, IReadOnlyList<Bastion.Config.OnionClientConfig> clients, CancellationToken cancellationToken)
    {
        var control = session.Control;
        var uploaded = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        // Known before ADD_ONION when the key is: no upload event can slip by before the answer is read.
        string? serviceId = OnionKeyStore.Load(definition.KeyFile)?.ServiceId;
        void OnEvent(TorReply reply)
        {
            if (HsDescEvent.TryParse(reply) is { Action: "UPLOADED" } e && Volatile.Read(ref serviceId) is { } id && e.Address == id)
            {
                uploaded.TrySetResult(e.HsDir ?? "an HSDir");
                var count = Interlocked.Increment(ref _uploads);
                context.SetDetail("uploads", count.ToString(CultureInfo.InvariantCulture));
                context.SetDetail("lastUpload", context.Time.GetUtcNow().ToString("O", CultureInfo.InvariantCulture));
            }
        }
        control.EventReceived += OnEvent;
        OnionClientKeyPair? selfTestKey = null;
        OnionKey? added = null;
        try
        {
            var key = OnionKeyStore.Load(definition.KeyFile);
            if (clients.Count > 0)
            {
                // The self-test is a client too: an ephemeral key known only to this process and its tor.
                selfTestKey = OnionClientKeys.Generate();
            }
            added = await AddAsync(control, key, clients, selfTestKey, cancellationToken).ConfigureAwait(false);
            Volatile.Write(ref serviceId, added.ServiceId);
            if (key is null)
            {
                try
                {
                    OnionKeyStore.Save(definition.KeyFile, added);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    // An address whose key is not on disk would change at the next start: do not publish it at all.
                    await RemoveAsync(control, added.ServiceId).ConfigureAwait(false);
                    throw new ComponentFailureException($"cannot save the new onion key to {definition.KeyFile}: {e.Message}; not publishing an address that would be lost");
                }
                TorLog.KeyCreated(logger, Name, added.Address, definition.KeyFile);
            }
            else if (added.ServiceId != key.ServiceId)
            {
                await RemoveAsync(control, added.ServiceId).ConfigureAwait(false);
                throw new ComponentFailureException(
                    $"onion key file {definition.KeyFile} names {key.Address} but its key is for {added.Address}: the file is damaged; "
                    + "restore it from a backup to keep the address, or move it away to create a new address");
            }
            var address = added.Address;
            // Tor keeps a removed service's rendezvous circuits (for connections to finish) and a re-added service with
            // the same key serves new streams on them: a revoked client (or one from before authorization was turned on)
            // would keep getting in. After any change of the authorized set, close them.
            var authorizedSet = string.Join(',', clients.Select(c => c.PublicKey).Order(StringComparer.Ordinal));
            if (runtime.ExchangeAppliedClients(session, Name, authorizedSet) != authorizedSet)
            {
                var cut = await CloseRendezvousCircuitsAsync(control, added.ServiceId, cancellationToken).ConfigureAwait(false);
                if (cut > 0)
                {
                    TorLog.SessionsCut(logger, Name, address, cut);
                    context.SetDetail("sessionsCut", $"{cut.ToString(CultureInfo.InvariantCulture)} at {context.Time.GetUtcNow().ToString("O", CultureInfo.InvariantCulture)}");
                }
            }
            if (selfTestKey is not null)
            {
                var priv = Convert.ToBase64String(Base32.TryDecode(selfTestKey.PrivateKey)!);
                await control.SendOkAsync(TorCommand.Line("ONION_CLIENT_AUTH_ADD", added.ServiceId, "x25519:" + priv), cancellationToken).ConfigureAwait(false);
            }
            context.SetDetail("address", address);
            context.SetDetail("state", "adding");
            TorLog.Added(logger, Name, address, ports, clients.Count == 0 ? "no client authorization" : $"{clients.Count} authorized client(s)");
            context.ReportDegraded($"adding {address}: waiting for tor to upload its descriptor");

            var ended = session.Ended;
            var first = await Task.WhenAny(uploaded.Task, ended, Task.Delay(PublishPatience, context.Time, cancellationToken)).ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested();
            if (first == ended)
            {
                context.SetDetail("state", "waiting");
                context.ReportDegraded($"tor went away ({ended.Result}); {address} will be added again when it is back");
                return;
            }
            if (first != uploaded.Task)
            {
                throw new ComponentFailureException($"tor did not upload the descriptor of {address} within {PublishPatience.TotalMinutes:0} minutes (is tor bootstrapped? see the tor component)");
            }
            TorLog.Published(logger, Name, address, uploaded.Task.Result);
            context.SetDetail("state", "published");
            context.ReportDegraded($"published {address}; self-test through tor pending");

            var reachable = false;
            var wake = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            void OnHealth(TorHealth health)
            {
                // A frozen or cut-off tor: "reachable" from the last self-test is no longer known to be true.
                if (!health.Serves && Volatile.Read(ref reachable))
                {
                    context.SetDetail("state", "unknown");
                    context.ReportDegraded($"{address}: reachability unknown: {health.Reason}");
                }
                wake.TrySetResult();
            }
            runtime.HealthChanged += OnHealth;
            try
            {
                while (!ended.IsCompleted)
                {
                    wake = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                    var (ok, text, descriptorMissing) = await SelfTestAsync(session, added.ServiceId, cancellationToken).ConfigureAwait(false);
                    var now = context.Time.GetUtcNow().ToString("O", CultureInfo.InvariantCulture);
                    context.SetDetail("lastSelfTest", now);
                    var health = runtime.Health;
                    if (ok && health.Serves)
                    {
                        if (!reachable)
                        {
                            TorLog.Reachable(logger, Name, address, text);
                        }
                        Volatile.Write(ref reachable, true);
                        context.SetDetail("lastSelfTestOk", now);
                        context.SetDetail("lastSelfTestError", "");
                        context.SetDetail("state", "reachable");
                        context.ReportRunning($"reachable at {address}: {text}");
                    }
                    else if (ok)
                    {
                        context.SetDetail("lastSelfTestOk", now);
                        context.SetDetail("state", "unknown");
                        context.ReportDegraded($"{address}: reachability unknown: {health.Reason}");
                    }
                    else
                    {
                        TorLog.SelfTestFailed(logger, Name, address, text);
                        context.SetDetail("lastSelfTestError", $"{now}: {text}");
                        context.SetDetail("state", reachable ? "unreachable" : "published");
                        context.ReportDegraded(reachable
                            ? $"self-test of {address} failed: {text}"
                            : $"published {address}; self-test through tor not passed yet: {text}");
                        if (descriptorMissing && health.Serves)
                        {
                            // The directories lost the descriptor (or never got it): upload it again now rather than at
                            // tor's next scheduled upload (up to an hour on the real network): delete and re-add, same key.
                            TorLog.Republishing(logger, Name, address);
                            context.ReportDegraded($"{address}: the directories have no descriptor; publishing it again");
                            return;
                        }
                    }
                    await Task.WhenAny(ended, wake.Task, Task.Delay(ok ? RecheckInterval : RetryInterval, context.Time, cancellationToken)).ConfigureAwait(false);
                    cancellationToken.ThrowIfCancellationRequested();
                }
            }
            finally
            {
                runtime.HealthChanged -= OnHealth;
            }
            context.SetDetail("state", "waiting");
            context.ReportDegraded($"tor went away ({ended.Result}); {address} will be added again when it is back");
        }
        catch (Exception e) when (e is TorProtocolException or TorCommandException)
        {
            if (session.Ended.IsCompleted)
            {
                context.SetDetail("state", "waiting");
                context.ReportDegraded($"tor went away ({session.Ended.Result}); adding again when it is back");
                return;
            }
            throw new ComponentFailureException(e.Message);
        }
        finally
        {
            control.EventReceived -= OnEvent;
            // Stopped, or this attempt failed: take the service out of tor either way, so that the next attempt adds it
            // to a tor that does not have it.
            if (added is not null && Volatile.Read(ref serviceId) is { } id && !session.Ended.IsCompleted)
            {
                await RemoveAsync(control, id).ConfigureAwait(false);
                var removed = OnionAddress.WithSuffix(id);
                TorLog.Removed(logger, Name, removed);
            }
        }
    }

    private async Task<OnionKey> AddAsync(TorControlConnection control, OnionKey? key, IReadOnlyList<Bastion.Config.OnionClientConfig> clients, OnionClientKeyPair? selfTestKey, CancellationToken cancellationToken)
    {
        var words = new List<string> { "ADD_ONION", key is null ? "NEW:ED25519-V3" : TorCommand.Word(key.ForAddOnion) };
        foreach (var p in definition.Service.Ports)
        {
            words.Add(TorCommand.Word($"Port={p.Virtual},{p.Target.Host}:{p.Target.Port}"));
        }
        foreach (var c in clients)
        {
            words.Add(TorCommand.Word("ClientAuthV3=" + c.PublicKey));
        }
        if (selfTestKey is not null)
        {
            words.Add("ClientAuthV3=" + selfTestKey.PublicKey);
            words.Add("Flags=V3Auth");
        }
        var line = TorCommand.Line([.. words]);
        if (key is not null && await IsAddedAsync(control, key.ServiceId, cancellationToken).ConfigureAwait(false))
        {
            // Still there from a failed attempt, before a reload, or a stop that could not remove it: delete it first.
            // Re-adding an active key is a collision, which tor answers with a "Bug: Non-fatal assertion" backtrace.
            await RemoveAsync(control, key.ServiceId).ConfigureAwait(false);
        }
        var reply = await control.SendAsync(line, cancellationToken).ConfigureAwait(false);
        if (!reply.IsOk)
        {
            // Never echo the command: it holds the key.
            throw new ComponentFailureException($"tor refused to add onion service {Name}: {reply.Describe()}");
        }
        var id = reply.Value("ServiceID");
        if (id is null || !OnionAddress.IsServiceId(id))
        {
            throw new ComponentFailureException("tor's ADD_ONION answer has no valid ServiceID");
        }
        if (key is not null)
        {
            return new OnionKey(id, key.Blob);
        }
        var privateKey = reply.Value("PrivateKey");
        if (privateKey is null || !privateKey.StartsWith(OnionKey.KeyType + ":", StringComparison.Ordinal))
        {
            throw new ComponentFailureException("tor's ADD_ONION answer has no ED25519-V3 private key");
        }
        return new OnionKey(id, privateKey[(OnionKey.KeyType.Length + 1)..]);
    }

    /// <summary>Whether tor has this service now (owned by this connection, or detached by an earlier one).</summary>
    private static async Task<bool> IsAddedAsync(TorControlConnection control, string serviceId, CancellationToken cancellationToken)
    {
        var reply = await control.SendAsync(TorCommand.Line("GETINFO", "onions/current", "onions/detached"), cancellationToken).ConfigureAwait(false);
        return reply.IsOk && reply.Lines.Any(l => l.Text.Contains(serviceId, StringComparison.Ordinal) || (l.Data?.Contains(serviceId, StringComparison.Ordinal) ?? false));
    }

    /// <summary>Closes the service side of every rendezvous circuit of this address; returns how many.</summary>
    private static async Task<int> CloseRendezvousCircuitsAsync(TorControlConnection control, string serviceId, CancellationToken cancellationToken)
    {
        var status = await control.SendOkAsync(TorCommand.Line("GETINFO", "circuit-status"), cancellationToken).ConfigureAwait(false);
        var ids = CircuitStatus.ServiceRendezvous(status.Value("circuit-status") ?? "", serviceId);
        var closed = 0;
        foreach (var id in ids)
        {
            // 552 Unknown circuit: it closed by itself meanwhile, which is as good.
            var reply = await control.SendAsync(TorCommand.Line("CLOSECIRCUIT", TorCommand.Word(id)), cancellationToken).ConfigureAwait(false);
            closed += reply.IsOk ? 1 : 0;
        }
        return closed;
    }

    private static async Task RemoveAsync(TorControlConnection control, string serviceId)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(3));
        try
        {
            await control.SendAsync(TorCommand.Line("DEL_ONION", TorCommand.Word(serviceId)), timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is TorProtocolException or OperationCanceledException)
        {
            // Tor is going away or not answering: the service goes with it.
        }
    }

    /// <summary>
    /// Connects to the own address through the SocksPort and reads the target's first line (sshd: <c>SSH-2.0-…</c>).
    /// Each attempt uses a unique SOCKS username, so tor builds a fresh, isolated circuit and looks the descriptor up
    /// again: a circuit that was already open cannot make a dead service look reachable.
    /// </summary>
    private async Task<(bool Ok, string Text, bool DescriptorMissing)> SelfTestAsync(TorSession session, string serviceId, CancellationToken cancellationToken)
    {
        var port = definition.Service.Ports[0].Virtual;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(SelfTestTimeout);
        var isolation = "bastion-selftest-" + Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(8));
        try
        {
            using var socket = await Socks5.ConnectAsync(session.SocksPort, OnionAddress.WithSuffix(serviceId), port, timeout.Token, isolation).ConfigureAwait(false);
            var buffer = new byte[255];
            using var bannerWait = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token);
            bannerWait.CancelAfter(TimeSpan.FromSeconds(10));
            int n;
            try
            {
                n = await socket.ReceiveAsync(buffer, SocketFlags.None, bannerWait.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                return (true, $"port {port} accepts connections (the target sent no banner)", false);
            }
            if (n == 0)
            {
                return (false, $"the target of port {port} closed the connection at once (is it running?)", false);
            }
            var line = Encoding.ASCII.GetString(buffer, 0, n).Split('\n')[0].TrimEnd('\r');
            return (true, $"port {port} answers '{TorText.Printable(line, 60)}'", false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return (false, $"no connection within {SelfTestTimeout.TotalSeconds:0}s", false);
        }
        catch (SocksRefusedException e) when (e.Code is 1 or 5)
        {
            // Measured: a target that refuses (sshd down) comes back from tor as a general failure (1), not as 5.
            var target = definition.Service.Ports[0].Target;
            return (false, $"{e.Message}: tor reached the service but not its target {target.Host}:{target.Port} (is it running?)", false);
        }
        catch (SocksRefusedException e)
        {
            return (false, e.Message, e.DescriptorNotFound);
        }
        catch (Exception e) when (e is IOException or SocketException)
        {
            return (false, e.Message, false);
        }
    }
}
