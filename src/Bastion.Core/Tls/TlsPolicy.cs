using System.Net.Security;
using System.Security.Authentication;

namespace Bastion.Tls;

/// <summary>
/// The one TLS policy of every Bastion endpoint and of <c>bastionctl connect</c> — policy, not options: TLS 1.2 and 1.3
/// only, ECDHE key exchange with AEAD ciphers only (forward secrecy everywhere; no CBC, no RC4, no static RSA), a
/// certificate required from both sides, chains validated by <see cref="PeerValidator"/> against the session CA only.
/// </summary>
public static class TlsPolicy
{
    public const SslProtocols Protocols = SslProtocols.Tls12 | SslProtocols.Tls13;

    /// <summary>
    /// How long a peer may take from connecting to finishing the handshake: short, because a pending handshake holds a place
    /// in the endpoint's budget (an admin's takes milliseconds; 5 s leaves room for a slow link and a loaded machine).
    /// </summary>
    public static readonly TimeSpan HandshakeTimeout = TimeSpan.FromSeconds(5);

    public static IReadOnlyList<TlsCipherSuite> CipherSuites { get; } =
    [
        TlsCipherSuite.TLS_AES_256_GCM_SHA384,
        TlsCipherSuite.TLS_CHACHA20_POLY1305_SHA256,
        TlsCipherSuite.TLS_AES_128_GCM_SHA256,
        TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        // RSA-signed ECDHE, for an admin-supplied RSA CA (tls[].ca); still ECDHE + AEAD.
        TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        TlsCipherSuite.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    ];

    public static SslServerAuthenticationOptions Server(SslStreamCertificateContext certificate, RemoteCertificateValidationCallback validate) => new()
    {
        ServerCertificateContext = certificate,
        ClientCertificateRequired = true,
        EnabledSslProtocols = Protocols,
        CipherSuitesPolicy = new CipherSuitesPolicy(CipherSuites),
        EncryptionPolicy = EncryptionPolicy.RequireEncryption,
        CertificateRevocationCheckMode = System.Security.Cryptography.X509Certificates.X509RevocationMode.NoCheck,
        AllowRenegotiation = false,
        RemoteCertificateValidationCallback = validate,
    };

    public static SslClientAuthenticationOptions Client(SslStreamCertificateContext certificate, string targetHost, RemoteCertificateValidationCallback validate) => new()
    {
        ClientCertificateContext = certificate,
        TargetHost = targetHost,
        EnabledSslProtocols = Protocols,
        CipherSuitesPolicy = new CipherSuitesPolicy(CipherSuites),
        EncryptionPolicy = EncryptionPolicy.RequireEncryption,
        CertificateRevocationCheckMode = System.Security.Cryptography.X509Certificates.X509RevocationMode.NoCheck,
        AllowRenegotiation = false,
        RemoteCertificateValidationCallback = validate,
    };
}
