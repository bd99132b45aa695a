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
public sealed partial class TlsEndpoint(TlsEndpointDefinition definition, Vnc.VncGates vncGates, ILogger logger) : IComponent
{
    private static readonly TimeSpan HealthInterval = TimeSpan.FromSeconds(30);

    private readonly TlsEndpointConfig _config = definition.Endpoint;
    private readonly EndpointCredentials _credentials = new(definition.Endpoint.Certificate, definition.Endpoint.Key, definition.CaPath, advertiseCa: true);
    private readonly RevocationList _revocations = new(definition.CrlPath);
    private long _accepted;
    private long _refused;
    private int _active;
    private int _loadedGeneration;
    private string? _lastHealth;

    private string Name => _config.Name;

    public async Task RunAsync(IComponentContext context, CancellationToken cancellationToken)
    {
        var validator = new PeerValidator(CertificateRole.Client, [.. _config.Pins], _revocations, context.Time);
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
        try
        {
            while (true)
            {
                await Task.Delay(HealthInterval, context.Time, cancellationToken).ConfigureAwait(false);
                UpdateHealth(context);
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
        string? problem = null;
        if (_credentials.LastError is { } error)
        {
            problem = "new certificate files not used, keeping the previous certificate: " + error;
        }
        else if (_revocations.Problem(credentials.Ca) is { } crl)
        {
            problem = crl;
        }
        else if (cert.NotAfter.ToUniversalTime() <= now)
        {
            problem = $"certificate {_config.Certificate} expired on {PkiIndex.Time(cert.NotAfter.ToUniversalTime())}; clients refuse it — renew with: bastionctl pki renew";
        }
        else if (cert.NotAfter.ToUniversalTime() - now <= definition.RenewBefore)
        {
            problem = $"certificate {_config.Certificate} expires on {PkiIndex.Time(cert.NotAfter.ToUniversalTime())} (within renewBefore {Durations.Format(definition.RenewBefore)}) — renew with: bastionctl pki renew";
        }
        if (problem != _lastHealth && problem is not null)
        {
            if (problem.StartsWith("revocation", StringComparison.Ordinal))
            {
                TlsLog.RevocationListUnusable(logger, Name, problem);
            }
            else if (_credentials.LastError is not null)
            {
                TlsLog.CredentialsRejected(logger, Name, _credentials.LastError);
            }
            else
            {
                TlsLog.CertificateExpiring(logger, Name, problem);
            }
        }
        _lastHealth = problem;
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
            context.ReportRunning(_config.Mode == TlsMode.Listen
                ? $"listening on {_boundAddress ?? _config.Address.ToString()}, relaying to {definition.Backend}"
                : $"phoning home to {_config.Address} every {Durations.Format(_config.Interval)}, relaying to {definition.Backend}");
        }
    }

    private string? _boundAddress;

    private void Count(IComponentContext context)
    {
        context.SetDetail("accepted", Interlocked.Read(ref _accepted).ToString(CultureInfo.InvariantCulture));
        context.SetDetail("refused", Interlocked.Read(ref _refused).ToString(CultureInfo.InvariantCulture));
        context.SetDetail("activeConnections", Volatile.Read(ref _active).ToString(CultureInfo.InvariantCulture));
    }

    /// <summary>
    /// One connection, from TCP accept (or dial) to close: handshake as the TLS server within
    /// <see cref="TlsPolicy.HandshakeTimeout"/>, our own peer validation, then the relay to the backend.
    /// Returns true when a peer was accepted (dial mode uses it to tell "phoned home" from "refused").
    /// </summary>
    private async Task<bool> ServeAsync(Socket socket, IComponentContext context, PeerValidator validator, HandshakeLimiter limiter, CancellationToken cancellationToken)
    {
        var remote = socket.RemoteEndPoint as IPEndPoint;
        var address = remote?.ToString() ?? "?";
        using var ssl = new SslStream(new NetworkStream(socket, ownsSocket: true), leaveInnerStreamOpen: false);
        if (remote is not null && limiter.IsBlocked(remote.Address))
        {
            Interlocked.Increment(ref _refused);
            context.SetDetail("lastRefusal", "too many failed handshakes from " + remote.Address);
            Count(context);
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
            verdict = validator.Validate(certificate, credentials.Ca);
            return verdict.Accepted;
        });
        using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
        {
            timeout.CancelAfter(TlsPolicy.HandshakeTimeout);
            try
            {
                await ssl.AuthenticateAsServerAsync(options, timeout.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is AuthenticationException or IOException or OperationCanceledException or SocketException)
            {
                if (cancellationToken.IsCancellationRequested)
                {
                    return false;
                }
                var reason = verdict is { Accepted: false } ? verdict.Reason : HandshakeFailure(e, verdict);
                Interlocked.Increment(ref _refused);
                context.SetDetail("lastRefusal", $"{address}: {reason}");
                Count(context);
                TlsLog.Refused(logger, Name, address, verdict?.Subject ?? "-", verdict?.Serial ?? "-", reason);
                if (remote is not null && limiter.RecordFailure(remote.Address))
                {
                    TlsLog.RateLimited(logger, Name, remote.Address.ToString(), limiter.MaxFailuresPerMinute);
                }
                return false;
            }
        }
        if (verdict is not { Accepted: true } peer)
        {
            // Cannot happen with ClientCertificateRequired (the callback always runs); refuse rather than trust it.
            TlsLog.Refused(logger, Name, address, "-", "-", "handshake completed without a certificate check");
            return false;
        }
        Interlocked.Increment(ref _accepted);
        context.SetDetail("lastPeer", $"{peer.Subject} serial {peer.Serial} from {address}");
        TlsLog.Accepted(logger, Name, address, peer.Subject, peer.Serial, Protocol(ssl.SslProtocol), ssl.NegotiatedCipherSuite.ToString());
        Socket backend;
        try
        {
            using var connectTimeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            connectTimeout.CancelAfter(TlsPolicy.HandshakeTimeout);
            backend = await BackendConnector.ConnectAsync(definition.Backend, connectTimeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or IOException)
        {
            if (cancellationToken.IsCancellationRequested)
            {
                return true;
            }
            var error = BackendConnector.Describe(e);
            TlsLog.BackendUnreachable(logger, Name, definition.Backend.ToString(), address, peer.Serial, error);
            context.ReportDegraded($"backend {definition.Backend} unreachable: {error}");
            _lastHealth = "backend";
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
                var observer = WatchVnc(context, limiter, remote, address, peer.Subject, peer.Serial);
                var result = await Relay.RunAsync(ssl, socket, backend, cancellationToken, observer).ConfigureAwait(false);
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

    /// <summary><see cref="ServeAsync"/> for one connection, so that nothing it did not foresee escapes the connection.</summary>
    private async Task<bool> ServeGuardedAsync(Socket socket, IComponentContext context, PeerValidator validator, HandshakeLimiter limiter, CancellationToken cancellationToken)
    {
        var address = "?";
        try
        {
            address = (socket.RemoteEndPoint as IPEndPoint)?.ToString() ?? "?";
            return await ServeAsync(socket, context, validator, limiter, cancellationToken).ConfigureAwait(false);
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

    private static string HandshakeFailure(Exception e, PeerVerdict? verdict)
    {
        if (e is OperationCanceledException)
        {
            return $"handshake not completed within {Durations.Format(TlsPolicy.HandshakeTimeout)}";
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
            return "handshake failed before any certificate (protocol or cipher not allowed, or not TLS): " + text;
        }
        return "handshake failed: " + text;
    }

    private static string Protocol(SslProtocols protocol) => protocol switch
    {
        SslProtocols.Tls13 => "TLSv1.3",
        SslProtocols.Tls12 => "TLSv1.2",
        _ => protocol.ToString(),
    };
}
