using Bastion.Config;
using Bastion.Ssh;
using Microsoft.Extensions.Logging;
using Renci.SshNet;
using Renci.SshNet.Common;

namespace Bastion.Daemon.Tunnels;

/// <summary>
/// One SSH connection and its life: a fresh <see cref="SshClient"/>, the host key checked against the tunnels' policy,
/// a liveness probe the server's sshd answers itself (SSH.NET's keepalive expects no answer, so it never notices a hung
/// peer), and one explicit <see cref="SshSessionState"/> under one lock that every tunnel on it watches. Never reused
/// after it ended: the pool starts a new one. A dead session is abandoned at once; its client is closed in the
/// background with a bound, because SSH.NET's Dispose can hang on a dead peer.
/// </summary>
#pragma warning disable CA1001 // _stop is only ever cancelled (no timer): nothing to release, and tunnels may still read its state
internal sealed class SharedSshSession
#pragma warning restore CA1001
{
    private static readonly TimeSpan DisposeTimeout = TimeSpan.FromSeconds(5);

    private readonly Lock _lock = new();
    private readonly SessionHealth _health = new();
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly Func<ProbeConfig> _probe;
    private readonly CancellationTokenSource _stop = new();
    private readonly string _name;
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private TaskCompletionSource _probeNow = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private SshFailure? _failure;
    private SshClient? _client;
    private SshGlobalRequests? _requests;
    private TcpipChannels? _channels;
    private string? _rejectedHostKey;
    private (string Verdict, PresentedHostKey Presented)? _pendingRefusal;
    private long _lastProbeMs = -1;
    private long _probesAnswered;
    private long _lastAnswer;
    private long _connectedAt;
    private long _endedAt;

    public SharedSshSession(SshSessionKey key, long id, Func<ProbeConfig> probe, ILogger logger, TimeProvider time)
    {
        Key = key;
        _name = key.ToString();
        Id = id;
        _probe = probe;
        _logger = logger;
        _time = time;
    }

    public SshSessionKey Key { get; }

    /// <summary>Distinguishes sessions with the same key: a tunnel counts a reconnect when this changes.</summary>
    public long Id { get; }

    public SshSessionState State
    {
        get { lock (_lock) { return _health.State; } }
    }

    /// <summary>Why it ended (Dead or Closed); null while connecting or connected.</summary>
    public SshFailure? Failure
    {
        get { lock (_lock) { return _failure; } }
    }

    /// <summary>Completes at the next state change (then read <see cref="State"/> again).</summary>
    public Task Changed
    {
        get { lock (_lock) { return _changed.Task; } }
    }

    public bool IsEnded => State is SshSessionState.Dead or SshSessionState.Closed;

    /// <summary>Probes in a row without an answer (Suspect shows it).</summary>
    public int ConsecutiveFailures
    {
        get { lock (_lock) { return _health.ConsecutiveFailures; } }
    }

    /// <summary>The client, while the session is connected; null once it ended (it is being closed).</summary>
    public SshClient? Client => Volatile.Read(ref _client);

    /// <summary>The session's global requests (probe and -R forwards take turns); null until connected.</summary>
    public SshGlobalRequests? Requests => Volatile.Read(ref _requests);

    /// <summary>The session's TCP channels: one router for every tunnel on it, and one window budget; null until connected.</summary>
    public TcpipChannels? Channels => Volatile.Read(ref _channels);

    public string? HostKeyFingerprint { get; private set; }
    public long LastProbeMs => Interlocked.Read(ref _lastProbeMs);

    /// <summary>Probes the server answered on this session.</summary>
    public long ProbesAnswered => Interlocked.Read(ref _probesAnswered);

    /// <summary><see cref="TimeProvider"/> timestamp of the last answered probe (or of the connect).</summary>
    public long LastAnswerTimestamp => Interlocked.Read(ref _lastAnswer);

    /// <summary>How long it was connected before it ended; null if it never connected.</summary>
    public TimeSpan? UpFor
    {
        get
        {
            lock (_lock)
            {
                return _connectedAt == 0 ? null : _time.GetElapsedTime(_connectedAt, _endedAt == 0 ? _time.GetTimestamp() : _endedAt);
            }
        }
    }

    public void Start() => _ = Task.Run(RunAsync);

    /// <summary>Probes now instead of at the next interval (a tunnel saw a channel open time out).</summary>
    public void RequestProbe()
    {
        lock (_lock)
        {
            _probeNow.TrySetResult();
        }
    }

    private async Task RunAsync()
    {
        try
        {
            await ConnectAsync().ConfigureAwait(false);
        }
#pragma warning disable CA1031 // every failure becomes a classified reason for the tunnels
        catch (Exception e)
#pragma warning restore CA1031
        {
            var failure = SshFailures.Classify(e, Key, SshConnectionSettings.ConnectTimeout, _rejectedHostKey);
            if (!failure.IsSecurityEvent)
            {
                TunnelLog.ConnectFailed(_logger, _name, failure.Reason);
            }
            else if (_pendingRefusal is { } refusal)
            {
                // No key of the server is trusted: the first one it presented is the one to check out of band.
                TunnelLog.HostKeyRejected(_logger, _name, refusal.Verdict, refusal.Presented);
            }
            End(SshSessionState.Dead, failure, log: false);
            DisposeInBackground(Interlocked.Exchange(ref _client, null), Interlocked.Exchange(ref _requests, null), Interlocked.Exchange(ref _channels, null));
            return;
        }
        try
        {
            await ProbeLoopAsync().ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
        }
#pragma warning disable CA1031 // a probe loop that ended on anything unforeseen must not leave its tunnels on an unwatched session
        catch (Exception e)
#pragma warning restore CA1031
        {
            End(SshSessionState.Dead, new SshFailure(SshFailureKind.ConnectionLost,
                $"connection to {Key.Host}:{Key.Port} lost: the liveness probe stopped ({e.GetType().Name}); reconnecting"), log: true);
        }
    }

    private async Task ConnectAsync()
    {
        TunnelLog.Connecting(_logger, _name);
        var started = _time.GetTimestamp();
        // Read per attempt, so an edited known_hosts takes effect at the next reconnect.
        string? knownHosts = null;
        if (Key.HostKey.KnownHosts is { } path)
        {
            try
            {
                knownHosts = await File.ReadAllTextAsync(path, _stop.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new SshFailureException(new SshFailure(SshFailureKind.Other, $"cannot read knownHosts {path}: {e.Message}"));
            }
        }
        var policy = new HostKeyPolicy(Key.HostKey, knownHosts);
        using var identity = LoadIdentity();
        // A server with several host keys presents the first type both sides offer. A pin names one key without its
        // type: a key that is not pinned is refused, and the connect is tried again without that type, until a pinned
        // key is presented or the server has no other type (then it is a mismatch).
        var refused = new HashSet<string>(StringComparer.Ordinal);
        while (true)
        {
            var offered = policy.HostKeyAlgorithms(Key.Host, Key.Port, refused);
            if (offered.Count == 0)
            {
                throw new SshFailureException(new SshFailure(SshFailureKind.HostKeyMismatch,
                    SshFailures.HostKeyMismatchReason(Key, _rejectedHostKey ?? "no host key type the policy can trust is offered")));
            }
            var client = new SshClient(SshConnectionSettings.Create(Key, offered, new PrivateKeyAuthenticationMethod(Key.User, identity)));
            string? otherKeyMayMatch = null;
            client.HostKeyReceived += (_, e) =>
            {
                if (CheckHostKey(policy, e) is { OtherKeyMayMatch: true })
                {
                    otherKeyMayMatch = e.HostKeyName;
                }
            };
            Volatile.Write(ref _client, client);
            using var timer = new CancellationTokenSource(SshConnectionSettings.ConnectTimeout, _time);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token, timer.Token);
            try
            {
                await client.ConnectAsync(timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (timeout.IsCancellationRequested && !_stop.IsCancellationRequested)
            {
                throw new TimeoutException();
            }
            catch (SshConnectionException) when (otherKeyMayMatch is { } algorithm && !_stop.IsCancellationRequested)
            {
                refused.UnionWith(SshAlgorithms.SameKey(algorithm));
                DisposeInBackground(Interlocked.Exchange(ref _client, null), null, null);
                continue;
            }
            break;
        }
        var connected = Client!;
        connected.ErrorOccurred += (_, e) => End(SshSessionState.Dead, SshFailures.Classify(e.Exception, Key, SshConnectionSettings.ConnectTimeout, null), log: true);
        Volatile.Write(ref _requests, SshGlobalRequests.Attach(connected, _time));
        Volatile.Write(ref _channels, TcpipChannels.Attach(connected));
        var info = connected.ConnectionInfo;
        var elapsed = (long)_time.GetElapsedTime(started).TotalMilliseconds;
        TunnelLog.Connected(_logger, _name, info.CurrentKeyExchangeAlgorithm ?? "?", info.CurrentClientEncryption ?? "?",
            HostKeyFingerprint ?? "?", elapsed);
        Interlocked.Exchange(ref _lastAnswer, _time.GetTimestamp());
        TaskCompletionSource? changed = null;
        lock (_lock)
        {
            if (_health.Connected())
            {
                _connectedAt = _time.GetTimestamp();
                changed = SwapChanged();
            }
        }
        if (changed is null)
        {
            // Closed while connecting: nobody will use this client.
            DisposeInBackground(Interlocked.Exchange(ref _client, null), Interlocked.Exchange(ref _requests, null), Interlocked.Exchange(ref _channels, null));
        }
        changed?.TrySetResult();
    }

    /// <summary>The private key; what goes wrong is said without a word of the key's contents.</summary>
    private PrivateKeyFile LoadIdentity()
    {
        try
        {
            return new PrivateKeyFile(Key.Identity);
        }
        catch (SshPassPhraseNullOrEmptyException)
        {
            throw new SshFailureException(new SshFailure(SshFailureKind.IdentityUnusable,
                $"identity {Key.Identity} is encrypted with a passphrase, which a daemon cannot type: use a key without one (ssh-keygen -p -N '' -f {Key.Identity})"));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new SshFailureException(new SshFailure(SshFailureKind.IdentityUnusable, $"cannot read identity {Key.Identity}: {e.Message}"));
        }
        catch (Exception e) when (e is SshException or InvalidOperationException or ArgumentException or FormatException or NotSupportedException)
        {
            throw new SshFailureException(new SshFailure(SshFailureKind.IdentityUnusable,
                $"identity {Key.Identity} is not a usable private key (OpenSSH ed25519, ecdsa or rsa without a passphrase)"));
        }
    }

    private HostKeyVerdict CheckHostKey(HostKeyPolicy policy, HostKeyEventArgs e)
    {
        PresentedCertificate? cert = null;
        if (e.Certificate is { } c)
        {
            cert = new PresentedCertificate(c.CertificateAuthorityKey, [.. c.ValidPrincipals],
                c.ValidAfter, c.ValidBefore,
                c.Type == Renci.SshNet.Security.Certificate.CertificateType.Host);
        }
        var presented = new PresentedHostKey(e.HostKeyName, e.HostKey, cert);
        HostKeyFingerprint = presented.Fingerprint;
        var verdict = policy.Verify(Key.Host, Key.Port, presented, _time.GetUtcNow());
        e.CanTrust = verdict.Trusted;
        if (verdict.Trusted)
        {
            TunnelLog.HostKeyTrusted(_logger, _name, presented, verdict.Description);
        }
        else if (verdict.OtherKeyMayMatch)
        {
            // Not yet a verdict: the server may have the pinned key in another type (tried next). Logged as a
            // security event only if none of its keys is trusted (the connect then fails with the first refusal).
            _rejectedHostKey ??= verdict.Description;
            _pendingRefusal ??= (verdict.Description, presented);
            TunnelLog.HostKeyNotPinned(_logger, _name, presented);
        }
        else
        {
            _rejectedHostKey = verdict.Description;
            TunnelLog.HostKeyRejected(_logger, _name, verdict.Description, presented);
        }
        return verdict;
    }

    /// <summary>
    /// Probes with the strictest settings among the tunnels on this session: Suspect after a probe without an answer,
    /// Dead after that many in a row; any answer makes it Up again.
    /// </summary>
    private async Task ProbeLoopAsync()
    {
        while (true)
        {
            var probe = _probe();
            Task now;
            lock (_lock)
            {
                now = _probeNow.Task;
            }
            await Task.WhenAny(Task.Delay(probe.Interval, _time, _stop.Token), now).ConfigureAwait(false);
            _stop.Token.ThrowIfCancellationRequested();
            lock (_lock)
            {
                if (_probeNow.Task.IsCompleted)
                {
                    _probeNow = new(TaskCreationOptions.RunContinuationsAsynchronously);
                }
            }
            var started = _time.GetTimestamp();
            var outcome = await ProbeOnceAsync(probe.Timeout).ConfigureAwait(false);
            if (outcome == ProbeOutcome.Answered)
            {
                Interlocked.Exchange(ref _lastProbeMs, (long)_time.GetElapsedTime(started).TotalMilliseconds);
                Interlocked.Exchange(ref _lastAnswer, _time.GetTimestamp());
                Interlocked.Increment(ref _probesAnswered);
            }
            TaskCompletionSource? changed = null;
            SshSessionState before, after;
            int failures;
            lock (_lock)
            {
                before = _health.State;
                after = _health.Record(outcome, probe.Failures);
                failures = _health.ConsecutiveFailures;
                if (after != before && after != SshSessionState.Dead)
                {
                    changed = SwapChanged();
                }
            }
            changed?.TrySetResult();
            if (before is SshSessionState.Dead or SshSessionState.Closed)
            {
                return;
            }
            switch (outcome)
            {
                case ProbeOutcome.ConnectionGone:
                    End(SshSessionState.Dead, new SshFailure(SshFailureKind.ConnectionLost, $"connection to {Key.Host}:{Key.Port} lost"), log: true, force: true);
                    return;
                case ProbeOutcome.NoAnswer:
                    TunnelLog.ProbeFailed(_logger, _name, failures, probe.Failures, probe.Timeout);
                    if (after == SshSessionState.Dead)
                    {
                        TunnelLog.PeerDead(_logger, _name, failures);
                        End(SshSessionState.Dead, new SshFailure(SshFailureKind.NotAnswering,
                            $"server not answering: {failures} probes in a row got no answer within {Durations.Format(probe.Timeout)} (server hung or network path black-holed)"),
                            log: true, force: true);
                        return;
                    }
                    break;
            }
        }
    }

    /// <summary>
    /// A <c>keepalive@openssh.com</c> global request with want-reply (OpenSSH's ServerAliveInterval): sshd answers it
    /// itself, at once, without a process, a channel or a log line.
    /// </summary>
    private async Task<ProbeOutcome> ProbeOnceAsync(TimeSpan timeout)
    {
        var client = Client;
        var requests = Requests;
        if (client is null || requests is null || !client.IsConnected)
        {
            return ProbeOutcome.ConnectionGone;
        }
        bool answered;
        try
        {
            answered = await requests.KeepaliveAsync(timeout, _stop.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is SshConnectionException or ObjectDisposedException)
        {
            return ProbeOutcome.ConnectionGone;
        }
        if (!client.IsConnected)
        {
            return ProbeOutcome.ConnectionGone;
        }
        return answered ? ProbeOutcome.Answered : ProbeOutcome.NoAnswer;
    }

    /// <summary>Called with the lock held: the waiters of the current state are released after it is left.</summary>
    private TaskCompletionSource SwapChanged()
    {
        var old = _changed;
        _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
        return old;
    }

    /// <summary>Ends the session (first reason wins), stops the probe and closes the client in the background.</summary>
    private void End(SshSessionState final, SshFailure failure, bool log, bool force = false)
    {
        TaskCompletionSource changed;
        lock (_lock)
        {
            // force: the probe already moved the health to Dead (Record); the reason is set here.
            if (!_health.End(final) && !(force && _failure is null))
            {
                return;
            }
            _failure = failure;
            _endedAt = _time.GetTimestamp();
            changed = SwapChanged();
        }
        if (log)
        {
            TunnelLog.Lost(_logger, _name, failure.Reason);
        }
        _stop.Cancel();
        DisposeInBackground(Interlocked.Exchange(ref _client, null), Interlocked.Exchange(ref _requests, null), Interlocked.Exchange(ref _channels, null));
        changed.TrySetResult();
    }

    /// <summary>Called when the last tunnel left: stops the probe and closes the connection (bounded, in the background).</summary>
    public void Close()
    {
        var wasUp = State is SshSessionState.Up or SshSessionState.Suspect;
        End(SshSessionState.Closed, new SshFailure(SshFailureKind.Other, "closed"), log: false);
        if (wasUp)
        {
            TunnelLog.Closed(_logger, _name);
        }
    }

    private void DisposeInBackground(SshClient? client, SshGlobalRequests? requests, TcpipChannels? channels)
    {
        if (client is null && requests is null && channels is null)
        {
            return;
        }
        var dispose = Task.Run(() =>
        {
            requests?.Dispose();
            channels?.Dispose(); // every channel on it ends: the relays close their connections
            client?.Dispose();
        });
        _ = dispose.WaitAsync(DisposeTimeout, _time).ContinueWith(t =>
        {
            if (t.IsFaulted && t.Exception?.InnerException is TimeoutException)
            {
                TunnelLog.DisposeTimedOut(_logger, _name, DisposeTimeout);
            }
            _ = t.Exception;
        }, TaskScheduler.Default);
    }
}
