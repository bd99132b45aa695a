namespace Bastion;

// 4000–4999: PKI and TLS endpoints.
public static partial class LogEvents
{
    public const int TlsListening = 4000;
    public const int TlsPeerAccepted = 4001;
    public const int TlsPeerRefused = 4002;
    public const int TlsConnectionClosed = 4003;
    public const int TlsRateLimited = 4004;
    public const int TlsBackendUnreachable = 4005;
    public const int TlsRefusalsSummary = 4006;
    public const int TlsCertificateBlocked = 4007;
    public const int TlsDialFailed = 4010;
    public const int TlsDialConnected = 4011;
    public const int TlsCredentialsReloaded = 4020;
    public const int TlsCredentialsRejected = 4021;
    public const int TlsCertificateExpiring = 4022;
    public const int TlsRevocationListUnusable = 4023;
    public const int TlsSettingsUpdated = 4024;
}
