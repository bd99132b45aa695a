// CA1873: these log calls run once per connection or state change, never in the relay loop; the cost is irrelevant.
#pragma warning disable CA1873

using System.Globalization;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using Bastion.Config;
using Bastion.Pki;
using Bastion.Supervision;
using Bastion.Tls;
using Microsoft.Extensions.Logging;

namespace Bastion.Daemon.Tls;

/// <summary>
/// A <c>tls:</c> endpoint: mutual TLS in front of a backend (TCP or a Unix socket). Mode <c>listen</c> accepts admins;
/// mode <c>dial</c> phones home to the admin's listener every interval until one accepts. In both modes this side is the
/// TLS server (presenting its serverAuth certificate, requiring a clientAuth one): TLS roles follow the certificates, not
/// the TCP direction, so a client certificate can never stand in for the server.
/// Certificate, key and CA files are re-read on change before every handshake (SIGHUP therefore needs no extra step, and
/// established connections keep running on what they were made with); the CRL likewise, failing closed.
/// </summary>
public sealed partial class TlsEndpoint(TlsEndpointDefinition definition, Vnc.VncGates vncGates, ILogger logger) : IComponent, ILivePolicy
{
    private static readonly TimeSpan HealthInterval = TimeSpan.FromSeconds(30);

    /// <summary>Refusals from one address are logged one by one at first, then as one line per this interval.</summary>
    private static readonly TimeSpan RefusalInterval = TimeSpan.FromSeconds(30);

    private readonly TlsEndpointConfig _config = definition.Endpoint;
    private readonly EndpointCredentials _credentials = new(definition.Endpoint.Certificate, definition.Endpoint.Key, definition.CaPath, advertiseCa: true);
    private readonly RevocationList _revocations = new(definition.CrlPath);
    private long _accepted;
    private long _refused;
    private readonly long[] _refusedByKind = new long[Enum.GetValues<HandshakeFailure>().Length];
    private int _active;
    private int _loadedGeneration;
    private HealthProblem _health;
    private string? _healthText;

    /// <summary>What is wrong with the endpoint, if anything (the words are made in <see cref="UpdateHealthLocked"/>).</summary>
    private enum HealthProblem
    {
        None,
        CredentialsRejected,
        RevocationListUnusable,
        Expired,
        Expiring,
        BackendUnreachable,
    }

    // One per endpoint instance, not per listener: the VNC endpoint starts a new listener each time the desktop comes up
    // (after an Xvnc restart too), and neither the pending budget nor the failure counts may be reset by that.
    private HandshakeLimiter? _limiter;
    private RefusalDigest? _digest;

    private string Name => _config.Name;

    /// <summary>The settings a reload changes live (see <see cref="TlsLiveSettings"/>); read where they are used.</summary>
    private volatile TlsLiveSettings _live = definition.Live;

    /// <summary>Completes when <see cref="_live"/> changes (the dial loop waits on it with its interval).</summary>
    private TaskCompletionSource _liveChanged = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>A reload changed only the live settings: take them now; open connections and the listener stay.</summary>
    public void UpdatePolicy(object policy)
    {
        var live = (TlsLiveSettings)policy;
        _live = live;
        _dial?.Reconfigure(live.Interval, live.MaxSessions);
        TlsLog.SettingsUpdated(logger, Name, Durations.Format(live.Interval), live.MaxSessions, Durations.Format(live.IdleTimeout), live.X509Vnc ? "x509vnc" : "explain");
        Interlocked.Exchange(ref _liveChanged, new(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
    }

    public async Task RunAsync(IComponentContext context, CancellationToken cancellationToken)
    {
        var validator = new PeerValidator(CertificateRole.Client, [.. _config.Pins], _revocations, context.Time);
        _limiter ??= new HandshakeLimiter(new HandshakeLimits(MaxFailuresPerMinute: _config.MaxFailedHandshakesPerMinute), context.Time);
        _digest ??= new RefusalDigest(RefusalInterval, _limiter.Limits.MaxTrackedKeys, context.Time);
        context.SetDetail("mode", _config.Mode == TlsMode.Listen ? "listen" : "dial");
        try
        {
            _credentials.Current();
        }
        catch (CredentialsException e)
        {
            throw new ComponentFailureException(e.Message);
        }
        using var health = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var healthLoop = HealthLoopAsync(context, health.Token);
        try
        {
            if (definition.FrontsVnc)
            {
                await ServeGatedAsync(context, validator, cancellationToken).ConfigureAwait(false);
            }
            else if (_config.Mode == TlsMode.Listen)
            {
                await ListenAsync(context, validator, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                await DialAsync(context, validator, cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            await health.CancelAsync().ConfigureAwait(false);
            await healthLoop.ConfigureAwait(false);
        }
    }

    private async Task HealthLoopAsync(IComponentContext context, CancellationToken cancellationToken)
    {
        var sinceHealth = TimeSpan.Zero;
        var tick = TimeSpan.FromSeconds(5);
        try
        {
            while (true)
            {
                await Task.Delay(tick, context.Time, cancellationToken).ConfigureAwait(false);
                FlushRefusals();
                sinceHealth += tick;
                if (sinceHealth >= HealthInterval)
                {
                    sinceHealth = TimeSpan.Zero;
                    UpdateHealth(context);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>
    /// Picks up changed files and sets the state: Degraded (with the reason) when new certificate files do not load, the
    /// CRL is unusable (everyone is refused) or our certificate is within renewBefore of expiry; otherwise Running.
    /// </summary>
    private void UpdateHealth(IComponentContext context)
    {
        lock (_healthGate) // connections and the health loop call this concurrently
        {
            UpdateHealthLocked(context);
        }
    }

    private readonly Lock _healthGate = new();

    private void UpdateHealthLocked(IComponentContext context)
    {
        if (_dial is { } dial)
        {
            context.SetDetail("attempts", dial.Attempts.ToString(CultureInfo.InvariantCulture));
            context.SetDetail("sessions", dial.Sessions.ToString(CultureInfo.InvariantCulture));
            context.SetDetail("maxSessions", dial.MaxSessions.ToString(CultureInfo.InvariantCulture));
            context.SetDetail("sessionsOpened", dial.SessionsOpened.ToString(CultureInfo.InvariantCulture));
            context.SetDetail("skippedAtLimit", dial.SkippedAtLimit.ToString(CultureInfo.InvariantCulture));
            context.SetDetail("dialPhase", dial.Phase.ToString());
            if (dial.LastOutcome is { } outcome)
            {
                context.SetDetail("lastAttempt", outcome.ToString());
            }
        }
        TlsCredentials credentials;
        try
        {
            credentials = _credentials.Current();
        }
        catch (CredentialsException e)
        {
            context.ReportDegraded(e.Message);
            return;
        }
        var cert = credentials.Certificate;
        if (_credentials.Generation != _loadedGeneration)
        {
            _loadedGeneration = _credentials.Generation;
            TlsLog.CredentialsLoaded(logger, Name, cert.Subject, cert.SerialNumber, PkiIndex.Time(cert.NotAfter.ToUniversalTime()));
        }
        context.SetDetail("notAfter", PkiIndex.Time(cert.NotAfter.ToUniversalTime()));
        context.SetDetail("serial", cert.SerialNumber);
        var now = context.Time.GetUtcNow();
        var (kind, problem) = (HealthProblem.None, (string?)null);
        if (_credentials.LastError is { } error)
        {
            (kind, problem) = (HealthProblem.CredentialsRejected, "new certificate files not used, keeping the previous certificate: " + error);
        }
        else if (_revocations.Problem(credentials.Ca) is { } crl)
        {
            (kind, problem) = (HealthProblem.RevocationListUnusable, crl);
        }
        else if (cert.NotAfter.ToUniversalTime() <= now)
        {
            (kind, problem) = (HealthProblem.Expired, $"certificate {_config.Certificate} expired on {PkiIndex.Time(cert.NotAfter.ToUniversalTime())}; clients refuse it — renew with: bastionctl pki renew");
        }
        else if (cert.NotAfter.ToUniversalTime() - now <= definition.RenewBefore)
        {
            (kind, problem) = (HealthProblem.Expiring, $"certificate {_config.Certificate} expires on {PkiIndex.Time(cert.NotAfter.ToUniversalTime())} (within renewBefore {Durations.Format(definition.RenewBefore)}) — renew with: bastionctl pki renew");
        }
        if ((kind != _health || problem != _healthText) && problem is not null)
        {
            switch (kind)
            {
                case HealthProblem.RevocationListUnusable:
                    TlsLog.RevocationListUnusable(logger, Name, problem);
                    break;
                case HealthProblem.CredentialsRejected:
                    TlsLog.CredentialsRejected(logger, Name, _credentials.LastError!);
                    break;
                default:
                    TlsLog.CertificateExpiring(logger, Name, problem);
                    break;
            }
        }
        _health = kind;
        _healthText = problem;
        if (definition.FrontsVnc && _standby)
        {
            return; // lowered: the state stays Standby (ServeGatedAsync's), whatever the files say
        }
        if (problem is not null)
        {
            context.ReportDegraded(problem);
        }
        else
        {
            // Dial mode: nobody listening is its normal state, so every dial phase is Running, the phase in the reason.
            context.ReportRunning(_config.Mode == TlsMode.Listen
                ? $"listening on {_boundAddress ?? _config.Address.ToString()}, relaying to {definition.Backend}"
                : $"{_dial?.Describe() ?? $"phoning home to {_config.Address} every {Durations.Format(_live.Interval)}"}, relaying to {definition.Backend}");
        }
    }

    private string? _boundAddress;

    private void Count(IComponentContext context)
    {
        context.SetDetail("accepted", Interlocked.Read(ref _accepted).ToString(CultureInfo.InvariantCulture));
        context.SetDetail("refused", Interlocked.Read(ref _refused).ToString(CultureInfo.InvariantCulture));
        foreach (var kind in Enum.GetValues<HandshakeFailure>())
        {
            // refusedSilent, refusedProtocol, refusedCertificate, refusedPasswordLimit: the metrics' refusal classes.
            context.SetDetail("refused" + kind, Interlocked.Read(ref _refusedByKind[(int)kind]).ToString(CultureInfo.InvariantCulture));
        }
        context.SetDetail("activeConnections", Volatile.Read(ref _active).ToString(CultureInfo.InvariantCulture));
    }

    /// <summary>
    /// One connection, from TCP accept (or dial) to close: handshake as the TLS server within
    /// <see cref="TlsPolicy.HandshakeTimeout"/>, our own peer validation, then the relay to the backend.
    /// Returns true when a peer was accepted (dial mode uses it to tell "phoned home" from "refused").
    /// </summary>
    private async Task<bool> ServeAsync(Socket socket, IComponentContext context, PeerValidator validator, DialReport? dial, CancellationToken cancellationToken)
    {
        var limiter = _limiter!;
        var remote = socket.RemoteEndPoint as IPEndPoint;
        var ip = remote?.Address ?? IPAddress.None;
        var address = remote?.ToString() ?? "?";
        using var ssl = new SslStream(new NetworkStream(socket, ownsSocket: true), leaveInnerStreamOpen: false);
        using var pending = limiter.Admit(ip, out _, () => socket.Available > 0);
        if (pending is null)
        {
            Refuse(context, ip, address, null, $"{limiter.Pending} connections pending, none of them silent; try again", HandshakeFailure.Silent, dial);
            return false;
        }
        TlsCredentials credentials;
        try
        {
            credentials = _credentials.Current();
        }
        catch (CredentialsException e)
        {
            context.ReportDegraded(e.Message);
            return false;
        }
        UpdateHealth(context);
        PeerVerdict? verdict = null;
        var options = TlsPolicy.Server(credentials.Context, (_, certificate, _, _) =>
        {
            if (certificate is not null)
            {
                pending.CertificatePresented(); // from now on this handshake never gives way to a newer connection
            }
            var v = validator.Validate(certificate, credentials.Ca);
            if (v.Accepted && limiter.IsCertificateBlocked(v.Serial))
            {
                v = v with { Accepted = false, Reason = $"{limiter.MaxFailuresPerMinute} wrong VNC passwords under this certificate in the last minute; refused until they age out" };
            }
            verdict = v;
            return v.Accepted;
        });
        using (var deadline = new Deadline(TlsPolicy.HandshakeTimeout, context.Time, cancellationToken, pending.Evicted))
        {
            var silent = true;
            try
            {
                // Wait for the first byte without consuming it: an idle socket stays Silent (the first to give way when the
                // pending budget is full) and costs no TLS work.
                var firstByte = socket.ReceiveAsync(new byte[1], SocketFlags.Peek, deadline.Token).AsTask();
                if (definition.FrontsVnc && _config.Mode == Config.TlsMode.Listen
                    && await Task.WhenAny(firstByte, Task.Delay(StockViewerWait, context.Time, deadline.Token)).ConfigureAwait(false) != firstByte)
                {
                    // A stock VNC viewer waits for the server to speak; a TLS client never does. With vnc.stockViewers: x509vnc
                    // it gets VeNCrypt X509Vnc; otherwise it is told what to run instead.
                    if (_live.X509Vnc)
                    {
                        return await ServeX509VncAsync(socket, ssl, pending, credentials, context, ip, address, cancellationToken).ConfigureAwait(false);
                    }
                    await ExplainToStockViewerAsync(socket, deadline.Token).ConfigureAwait(false);
                    Refuse(context, ip, address, null, "sent nothing (a stock VNC viewer?): told it over RFB to use bastionctl connect or stunnel", HandshakeFailure.Silent, dial);
                    return false;
                }
                if (await firstByte.ConfigureAwait(false) == 0)
                {
                    Refuse(context, ip, address, null, "closed before sending anything", HandshakeFailure.Silent, dial);
                    return false;
                }
                silent = false;
                if (!pending.Talking())
                {
                    Refuse(context, ip, address, null, $"{limiter.Limits.MaxPendingPerAddress} handshakes in progress from this address (or {limiter.Limits.MaxPending} in all), each with a certificate being checked; try again", HandshakeFailure.Silent, dial);
                    return false;
                }
                await ssl.AuthenticateAsServerAsync(options, deadline.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is AuthenticationException or IOException or OperationCanceledException or SocketException)
            {
                if (cancellationToken.IsCancellationRequested)
                {
                    return false;
                }
                var (reason, kind) = Classify(e, verdict, silent, pending.WasEvicted, limiter);
                Refuse(context, ip, address, verdict, reason, kind, dial);
                return false;
            }
        }
        pending.Dispose(); // past the handshake: the relay does not count against the pending budget
        if (verdict is not { Accepted: true } peer)
        {
            // Cannot happen with ClientCertificateRequired (the callback always runs); refuse rather than trust it.
            TlsLog.Refused(logger, Name, address, "-", "-", "handshake completed without a certificate check");
            return false;
        }
        Interlocked.Increment(ref _accepted);
        dial?.Opened();
        context.SetDetail("lastPeer", $"{peer.Subject} serial {peer.Serial} from {address}");
        TlsLog.Accepted(logger, Name, address, peer.Subject, peer.Serial, Protocol(ssl.SslProtocol), ssl.NegotiatedCipherSuite.ToString());
        Socket backend;
        try
        {
            using var connectTimeout = new Deadline(TlsPolicy.HandshakeTimeout, context.Time, cancellationToken);
            backend = await BackendConnector.ConnectAsync(definition.Backend, connectTimeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or IOException)
        {
            if (cancellationToken.IsCancellationRequested)
            {
                return true;
            }
            var error = BackendConnector.Describe(e, definition.Backend);
            TlsLog.BackendUnreachable(logger, Name, definition.Backend.ToString(), address, peer.Serial, error);
            context.ReportDegraded($"backend {definition.Backend} unreachable: {error}");
            _health = HealthProblem.BackendUnreachable;
            Count(context);
            return true;
        }
        using (backend)
        {
            Interlocked.Increment(ref _active);
            Count(context);
            var gate = definition.FrontsVnc ? vncGates.For(Name) : null;
            gate?.ClientConnected(); // the desktop is not lowered automatically while a client is connected
            try
            {
                var observer = WatchVnc(context, address, peer.Subject, peer.Serial);
                var idle = dial is null ? null : new RelayIdleLimit(() => _live.IdleTimeout, context.Time);
                var result = await Relay.RunAsync(ssl, socket, backend, cancellationToken, observer, idle).ConfigureAwait(false);
                TlsLog.Closed(logger, Name, address, peer.Serial, result.FromTls, result.ToTls, result.Error is null ? "" : "; " + result.Error);
            }
            finally
            {
                gate?.ClientDisconnected();
                Interlocked.Decrement(ref _active);
                Count(context);
            }
        }
        return true;
    }

    /// <summary>How long a client of the VNC endpoint may stay silent before it is taken for a stock viewer.</summary>
    private static readonly TimeSpan StockViewerWait = TimeSpan.FromMilliseconds(1500);

    /// <summary>
    /// Speaks just enough RFB 3.8 to a stock viewer for it to show the admin a reason: the server's version, the client's
    /// version read, then "no security types" with a reason (3.3 clients: security type 0 and the reason). Viewers display it.
    /// </summary>
    private async Task ExplainToStockViewerAsync(Socket socket, CancellationToken cancellationToken)
    {
        var at = socket.LocalEndPoint is IPEndPoint local ? local.ToString() : _boundAddress ?? _config.Address.ToString();
        var reason = System.Text.Encoding.UTF8.GetBytes(
            $"This Bastion desktop needs a client certificate (mutual TLS); a VNC viewer cannot present one. On your computer run: "
            + $"bastionctl connect {at} --local 127.0.0.1:5901 --cert admin.crt --key admin.key --ca ca.crt "
            + "(or stunnel with that certificate, see the README), then point the viewer at 127.0.0.1:5901.");
        try
        {
            await socket.SendAsync("RFB 003.008\n"u8.ToArray(), SocketFlags.None, cancellationToken).ConfigureAwait(false);
            var version = new byte[12];
            var read = 0;
            while (read < version.Length)
            {
                var n = await socket.ReceiveAsync(version.AsMemory(read), SocketFlags.None, cancellationToken).ConfigureAwait(false);
                if (n == 0)
                {
                    return;
                }
                read += n;
            }
            var is33 = version.AsSpan().SequenceEqual("RFB 003.003\n"u8);
            var message = new byte[(is33 ? 4 : 1) + 4 + reason.Length]; // 3.3: u32 security type 0; 3.7+: u8 count 0
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(message.AsSpan(is33 ? 4 : 1), (uint)reason.Length);
            reason.CopyTo(message, (is33 ? 4 : 1) + 4);
            await socket.SendAsync(message, SocketFlags.None, cancellationToken).ConfigureAwait(false);
            socket.Shutdown(SocketShutdown.Send);
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException)
        {
            // the viewer went away meanwhile: nothing to tell
        }
    }

    /// <summary>
    /// Counts a refused connection, says why in status, logs it (one by one at first, then aggregated per address and
    /// interval) and tells the limiter what kind of failure it was.
    /// </summary>
    private void Refuse(IComponentContext context, IPAddress ip, string address, PeerVerdict? verdict, string reason, HandshakeFailure kind, DialReport? dial = null)
    {
        dial?.Refused(kind, reason);
        Interlocked.Increment(ref _refused);
        Interlocked.Increment(ref _refusedByKind[(int)kind]);
        context.SetDetail("lastRefusal", $"{address}: {reason}");
        Count(context);
        if (_digest!.Record(ip, reason))
        {
            TlsLog.Refused(logger, Name, address, verdict?.Subject ?? "-", verdict?.Serial ?? "-", reason);
        }
        if (_limiter!.RecordFailure(ip, kind))
        {
            TlsLog.Suspect(logger, Name, ip.ToString(), _limiter.MaxFailuresPerMinute);
        }
    }

    private void FlushRefusals()
    {
        foreach (var summary in _digest?.Flush() ?? [])
        {
            var from = summary.Address.Equals(IPAddress.None) ? "other addresses" : summary.Address.ToString();
            var interval = TimeSpan.FromSeconds(Math.Round(summary.Interval.TotalSeconds));
            TlsLog.RefusalsSummary(logger, Name, from, summary.Count, Durations.Format(interval), summary.LastReason);
        }
    }

    /// <summary><see cref="ServeAsync"/> for one connection, so that nothing it did not foresee escapes the connection.</summary>
    private async Task<bool> ServeGuardedAsync(Socket socket, IComponentContext context, PeerValidator validator, CancellationToken cancellationToken, DialReport? dial = null)
    {
        var address = "?";
        try
        {
            address = (socket.RemoteEndPoint as IPEndPoint)?.ToString() ?? "?";
            return await ServeAsync(socket, context, validator, dial, cancellationToken).ConfigureAwait(false);
        }
#pragma warning disable CA1031 // one connection's unexpected failure must not take the endpoint down; it is logged with the reason
        catch (Exception e)
#pragma warning restore CA1031
        {
            socket.Dispose();
            if (!cancellationToken.IsCancellationRequested)
            {
                TlsLog.Refused(logger, Name, address, "-", "-", $"connection failed: {e.GetType().Name}: {e.Message}");
            }
            return false;
        }
    }

    private static (string Reason, HandshakeFailure Kind) Classify(Exception e, PeerVerdict? verdict, bool silent, bool evicted, HandshakeLimiter limiter)
    {
        if (verdict is { Accepted: false })
        {
            return (verdict.Reason, !verdict.Presented ? Bastion.Tls.HandshakeFailure.Protocol
                : limiter.IsCertificateBlocked(verdict.Serial) ? Bastion.Tls.HandshakeFailure.PasswordLimit
                : Bastion.Tls.HandshakeFailure.Certificate);
        }
        if (evicted)
        {
            return (silent
                ? $"gave way to a newer connection (this one had sent nothing; {limiter.Limits.MaxSilentPerAddress} silent connections from one address, or {limiter.Limits.MaxSilent} in all, are kept)"
                : $"gave way to a newer handshake (this one had presented no certificate yet; {limiter.Limits.MaxPendingPerAddress} handshakes from one address, or {limiter.Limits.MaxPending} in all, are kept)",
                Bastion.Tls.HandshakeFailure.Silent);
        }
        if (e is OperationCanceledException)
        {
            return (silent
                ? $"sent nothing within {Durations.Format(TlsPolicy.HandshakeTimeout)}"
                : $"handshake not completed within {Durations.Format(TlsPolicy.HandshakeTimeout)}", Bastion.Tls.HandshakeFailure.Silent);
        }
        var inner = e;
        while (inner.InnerException is not null)
        {
            inner = inner.InnerException;
        }
        var text = inner.Message; // the outer AuthenticationException only says "see inner exception"
        if (verdict is null && e is AuthenticationException)
        {
            // No certificate was even looked at: wrong protocol version, no shared AEAD/ECDHE suite, or not TLS at all.
            return ("handshake failed before any certificate (protocol or cipher not allowed, or not TLS): " + text, Bastion.Tls.HandshakeFailure.Protocol);
        }
        return ("handshake failed: " + text, Bastion.Tls.HandshakeFailure.Silent); // the peer went away mid-handshake
    }

    private static string Protocol(SslProtocols protocol) => protocol switch
    {
        SslProtocols.Tls13 => "TLSv1.3",
        SslProtocols.Tls12 => "TLSv1.2",
        _ => protocol.ToString(),
    };
}
