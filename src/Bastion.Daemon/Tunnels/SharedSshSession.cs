using System.Diagnostics;
using Bastion.Config;
using Bastion.Ssh;
using Microsoft.Extensions.Logging;
using Renci.SshNet;
using Renci.SshNet.Common;

namespace Bastion.Daemon.Tunnels;

/// <summary>
/// One SSH connection attempt and, once connected, its life: a fresh <see cref="SshClient"/> per attempt, host key
/// checked against the tunnel's policy, a liveness probe that needs an answer from the server (SSH.NET's keepalive
/// expects none, so it never notices a hung peer), and one <see cref="Died"/> outcome every tunnel on it sees.
/// Never reused after it died; closing it is bounded by a timeout because SSH.NET's Dispose can hang on a dead peer.
/// </summary>
#pragma warning disable CA1001 // _stop is only ever cancelled (no timer): nothing to release, and tunnels may still read its state
internal sealed class SharedSshSession
#pragma warning restore CA1001
{
    private static readonly TimeSpan DisposeTimeout = TimeSpan.FromSeconds(5);
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly TaskCompletionSource _connected = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource<SshFailure> _died = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _stop = new();
    private readonly List<SshSessionLease> _leases = [];
    private SshClient? _client;
    private string? _rejectedHostKey;
    private long _lastProbeMs = -1;
    private readonly string _name;

    public SharedSshSession(SshSessionKey key, long id, ILogger logger, TimeProvider time)
    {
        Key = key;
        _name = key.ToString();
        Id = id;
        _logger = logger;
        _time = time;
        _connected.Task.ContinueWith(t => _ = t.Exception, TaskScheduler.Default); // observed even if every waiter left
    }

    public SshSessionKey Key { get; }

    /// <summary>Distinguishes sessions with the same key: a tunnel counts a reconnect when this changes.</summary>
    public long Id { get; }

    public Task Connected => _connected.Task;
    public Task<SshFailure> Died => _died.Task;
    public bool IsDead => _died.Task.IsCompleted;
    public SshClient Client => _client ?? throw new InvalidOperationException("not connected");
    public string? HostKeyFingerprint { get; private set; }
    public long LastProbeMs => Interlocked.Read(ref _lastProbeMs);

    internal void Add(SshSessionLease lease)
    {
        lock (_leases)
        {
            _leases.Add(lease);
        }
    }

    /// <summary>True when that was the last lease.</summary>
    internal bool Remove(SshSessionLease lease)
    {
        lock (_leases)
        {
            _leases.Remove(lease);
            return _leases.Count == 0;
        }
    }

    public void Start() => _ = Task.Run(RunAsync);

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
            _died.TrySetResult(failure);
            _connected.TrySetException(new SshFailureException(failure));
            DisposeClient();
            return;
        }
        _connected.TrySetResult();
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
            // Close() may race the probe (Client then throws), or SSH.NET may throw something not classified above.
            // Either way nobody probes this session any more: declare it dead so the tunnels reconnect, never sit on it.
            Die(new SshFailure(SshFailureKind.ConnectionLost, $"liveness probe stopped unexpectedly ({e.GetType().Name}: {e.Message}); reconnecting"));
        }
    }

    private async Task ConnectAsync()
    {
        TunnelLog.Connecting(_logger, _name);
        var started = Stopwatch.GetTimestamp();
        // Read per attempt, so an edited known_hosts takes effect at the next reconnect.
        string? knownHosts = null;
        if (Key.HostKey.KnownHosts is { } path)
        {
            try
            {
                knownHosts = await File.ReadAllTextAsync(path).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new SshFailureException(new SshFailure(SshFailureKind.Other, $"cannot read knownHosts {path}: {e.Message}"));
            }
        }
        var policy = new HostKeyPolicy(Key.HostKey, knownHosts);
        using var identity = LoadIdentity();
        var client = new SshClient(SshConnectionSettings.Create(Key, new PrivateKeyAuthenticationMethod(Key.User, identity)));
        _client = client;
        client.HostKeyReceived += (_, e) => CheckHostKey(policy, e);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
        timeout.CancelAfter(SshConnectionSettings.ConnectTimeout);
        try
        {
            await client.ConnectAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested && !_stop.IsCancellationRequested)
        {
            throw new TimeoutException();
        }
        client.ErrorOccurred += (_, e) => Die(SshFailures.Classify(e.Exception, Key, SshConnectionSettings.ConnectTimeout, null));
        var info = client.ConnectionInfo;
        var elapsed = (long)Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        TunnelLog.Connected(_logger, _name, info.CurrentKeyExchangeAlgorithm ?? "?", info.CurrentClientEncryption ?? "?",
            HostKeyFingerprint ?? "?", elapsed);
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

    private void CheckHostKey(HostKeyPolicy policy, HostKeyEventArgs e)
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
        else
        {
            _rejectedHostKey = verdict.Description;
            TunnelLog.HostKeyRejected(_logger, _name, verdict.Description, presented);
        }
    }

    /// <summary>Probes with the strictest settings among the tunnels on this session; dead after that many failures in a row.</summary>
    private async Task ProbeLoopAsync()
    {
        var liveness = new Liveness(1);
        while (true)
        {
            var probe = StrictestProbe();
            liveness.Failures = probe.Failures;
            await Task.Delay(probe.Interval, _time, _stop.Token).ConfigureAwait(false);
            var (answered, why) = await ProbeOnceAsync(probe.Timeout).ConfigureAwait(false);
            if (!answered && IsDead)
            {
                return;
            }
            var dead = liveness.Record(answered);
            if (answered)
            {
                continue;
            }
            TunnelLog.ProbeFailed(_logger, _name, liveness.ConsecutiveFailures, probe.Failures, why);
            if (dead)
            {
                TunnelLog.PeerDead(_logger, _name, liveness.ConsecutiveFailures);
                Die(new SshFailure(SshFailureKind.NotAnswering,
                    $"server not answering: {liveness.ConsecutiveFailures} probes in a row got no answer within {Durations.Format(probe.Timeout)} (server hung or network path black-holed)"));
                return;
            }
        }
    }

    private ProbeConfig StrictestProbe()
    {
        ProbeConfig[] probes;
        lock (_leases)
        {
            probes = [.. _leases.Select(l => l.Probe)];
        }
        if (probes.Length == 0)
        {
            return new ProbeConfig();
        }
        return new ProbeConfig
        {
            Interval = probes.Min(p => p.Interval),
            Timeout = probes.Min(p => p.Timeout),
            Failures = probes.Min(p => p.Failures),
        };
    }

    /// <summary>
    /// Runs <c>true</c> on the server. Any SSH answer counts, also a refusal (a forwarding-only account may not
    /// run commands): what matters is that the far end's SSH layer responded in time.
    /// </summary>
    private async Task<(bool Answered, string Why)> ProbeOnceAsync(TimeSpan timeout)
    {
        var client = Client;
        if (!client.IsConnected)
        {
            Die(new SshFailure(SshFailureKind.ConnectionLost, $"connection to {Key.Host}:{Key.Port} lost"));
            return (false, "not connected");
        }
        var started = Stopwatch.GetTimestamp();
        using var cts = new CancellationTokenSource();
        SshCommand? command = null;
        // Task.Run: opening the channel may block its thread until SSH.NET's own timeout; ours is shorter.
        var run = Task.Run(async () =>
        {
            command = client.CreateCommand("true");
            await command.ExecuteAsync(cts.Token).ConfigureAwait(false);
        });
        var winner = await Task.WhenAny(run, Task.Delay(timeout, _time, _stop.Token)).ConfigureAwait(false);
        if (winner != run)
        {
            await cts.CancelAsync().ConfigureAwait(false);
            _ = run.ContinueWith(t => { _ = t.Exception; command?.Dispose(); }, TaskScheduler.Default);
            return (false, $"no answer within {Durations.Format(timeout)}");
        }
        try
        {
            await run.ConfigureAwait(false);
        }
        catch (Exception e) when (e is SshConnectionException or ObjectDisposedException)
        {
            Die(SshFailures.Classify(e, Key, SshConnectionSettings.ConnectTimeout, null));
            return (false, e.Message);
        }
        catch (SshOperationTimeoutException e)
        {
            // SSH.NET gave up waiting for the channel (a probe timeout above ConnectTimeout): no answer, not a refusal.
            return (false, e.Message);
        }
        catch (SshException)
        {
            // refused by the server: still an answer
        }
        finally
        {
            command?.Dispose();
        }
        Interlocked.Exchange(ref _lastProbeMs, (long)Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        return (true, "");
    }

    private void Die(SshFailure failure)
    {
        if (_died.TrySetResult(failure))
        {
            TunnelLog.Lost(_logger, _name, failure.Reason);
            _stop.Cancel();
        }
    }

    /// <summary>Called when the last tunnel left: stops the probe and closes the connection (bounded).</summary>
    public void Close()
    {
        _died.TrySetResult(new SshFailure(SshFailureKind.Other, "closed"));
        _stop.Cancel();
        if (_connected.Task.IsCompletedSuccessfully)
        {
            TunnelLog.Closed(_logger, _name);
        }
        DisposeClient();
    }

    private void DisposeClient()
    {
        if (Interlocked.Exchange(ref _client, null) is not { } client)
        {
            return;
        }
        var dispose = Task.Run(client.Dispose);
        _ = dispose.WaitAsync(DisposeTimeout).ContinueWith(t =>
        {
            if (t.IsFaulted && t.Exception?.InnerException is TimeoutException)
            {
                TunnelLog.DisposeTimedOut(_logger, _name, DisposeTimeout);
            }
        }, TaskScheduler.Default);
    }
}
