using Microsoft.Extensions.Logging;

namespace Bastion.Daemon.Tls;

/// <summary>The TLS endpoints' log lines. Peers are named by subject, serial and address; never a key.</summary>
internal static partial class TlsLog
{
    [LoggerMessage(EventId = LogEvents.TlsListening, Level = LogLevel.Information, Message = "tls/{Endpoint}: listening on {Address}, relaying to {Backend}")]
    public static partial void Listening(ILogger logger, string endpoint, string address, string backend);

    [LoggerMessage(EventId = LogEvents.TlsPeerAccepted, Level = LogLevel.Information, Message = "tls/{Endpoint}: accepted {Address}: subject {Subject} serial {Serial} ({Protocol} {Cipher})")]
    public static partial void Accepted(ILogger logger, string endpoint, string address, string subject, string serial, string protocol, string cipher);

    [LoggerMessage(EventId = LogEvents.TlsPeerRefused, Level = LogLevel.Warning, Message = "tls/{Endpoint}: refused {Address}: subject {Subject} serial {Serial}: {Reason}")]
    public static partial void Refused(ILogger logger, string endpoint, string address, string subject, string serial, string reason);

    [LoggerMessage(EventId = LogEvents.TlsConnectionClosed, Level = LogLevel.Information, Message = "tls/{Endpoint}: closed {Address} (serial {Serial}): {In} bytes in, {Out} bytes out{Error}")]
    public static partial void Closed(ILogger logger, string endpoint, string address, string serial, long @in, long @out, string error);

    [LoggerMessage(EventId = LogEvents.TlsRateLimited, Level = LogLevel.Warning, Message = "tls/{Endpoint}: {Address} presented {Limit} refused certificates in a minute; its pending handshakes give way first, its refusals are logged in aggregate (a valid certificate from it still gets in)")]
    public static partial void Suspect(ILogger logger, string endpoint, string address, int limit);

    [LoggerMessage(EventId = LogEvents.TlsRefusalsSummary, Level = LogLevel.Warning, Message = "tls/{Endpoint}: refused {Count} more connections from {Address} in the last {Interval} (last: {Reason})")]
    public static partial void RefusalsSummary(ILogger logger, string endpoint, string address, int count, string interval, string reason);

    [LoggerMessage(EventId = LogEvents.TlsCertificateBlocked, Level = LogLevel.Warning, Message = "tls/{Endpoint}: certificate {Subject} serial {Serial} reached {Limit} wrong VNC passwords in a minute; refusing it until they age out (other certificates are not affected)")]
    public static partial void CertificateBlocked(ILogger logger, string endpoint, string subject, string serial, int limit);

    [LoggerMessage(EventId = LogEvents.TlsBackendUnreachable, Level = LogLevel.Warning, Message = "tls/{Endpoint}: backend {Backend} unreachable for {Address} (serial {Serial}): {Error}")]
    public static partial void BackendUnreachable(ILogger logger, string endpoint, string backend, string address, string serial, string error);

    [LoggerMessage(EventId = LogEvents.TlsDialFailed, Level = LogLevel.Information, Message = "tls/{Endpoint}: phoning home to {Address} failed: {Error}; next attempt in {Interval}")]
    public static partial void DialFailed(ILogger logger, string endpoint, string address, string error, string interval);

    [LoggerMessage(EventId = LogEvents.TlsDialConnected, Level = LogLevel.Information, Message = "tls/{Endpoint}: phoned home: connected to {Address}")]
    public static partial void DialConnected(ILogger logger, string endpoint, string address);

    [LoggerMessage(EventId = LogEvents.TlsCredentialsReloaded, Level = LogLevel.Information, Message = "tls/{Endpoint}: loaded certificate {Subject} serial {Serial}, valid until {NotAfter}")]
    public static partial void CredentialsLoaded(ILogger logger, string endpoint, string subject, string serial, string notAfter);

    [LoggerMessage(EventId = LogEvents.TlsCredentialsRejected, Level = LogLevel.Error, Message = "tls/{Endpoint}: new certificate files not used, keeping the previous certificate: {Error}")]
    public static partial void CredentialsRejected(ILogger logger, string endpoint, string error);

    [LoggerMessage(EventId = LogEvents.TlsCertificateExpiring, Level = LogLevel.Warning, Message = "tls/{Endpoint}: {Message}")]
    public static partial void CertificateExpiring(ILogger logger, string endpoint, string message);

    [LoggerMessage(EventId = LogEvents.TlsRevocationListUnusable, Level = LogLevel.Error, Message = "tls/{Endpoint}: {Message}")]
    public static partial void RevocationListUnusable(ILogger logger, string endpoint, string message);

    [LoggerMessage(EventId = LogEvents.TlsSettingsUpdated, Level = LogLevel.Information, Message = "tls/{Endpoint}: settings updated live (interval {Interval}, maxSessions {MaxSessions}, idleTimeout {IdleTimeout}, stockViewers {StockViewers}); open connections are kept")]
    public static partial void SettingsUpdated(ILogger logger, string endpoint, string interval, int maxSessions, string idleTimeout, string stockViewers);
}
