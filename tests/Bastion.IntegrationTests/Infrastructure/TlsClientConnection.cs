using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Bastion.Pki;

namespace Bastion.IntegrationTests.Infrastructure;

/// <summary>
/// A plain .NET TLS client connection to an endpoint on 127.0.0.1, as an admin's tooling would open it: the server's
/// certificate must chain to a CA file, and a client certificate is presented when given (mutual TLS).
/// </summary>
internal sealed class TlsClientConnection : IAsyncDisposable
{
    private readonly TcpClient _tcp;

    private TlsClientConnection(TcpClient tcp, SslStream stream)
    {
        _tcp = tcp;
        Stream = stream;
    }

    public SslStream Stream { get; }

    /// <summary>
    /// Connects and completes the handshake within <paramref name="patience"/> each; throws if the server or its
    /// certificate is not acceptable, or the server refuses the client.
    /// </summary>
    public static async Task<TlsClientConnection> ConnectAsync(int port, string caPath, IssueResult? identity, TimeSpan patience, CancellationToken cancellationToken = default)
    {
        var tcp = new TcpClient();
        try
        {
            await tcp.ConnectAsync("127.0.0.1", port, cancellationToken).AsTask().WaitAsync(patience, cancellationToken);
            using var ca = X509Certificate2.CreateFromPem(await File.ReadAllTextAsync(caPath, cancellationToken));
            var caCopy = X509CertificateLoader.LoadCertificate(ca.RawData);
            var ssl = new SslStream(tcp.GetStream(), leaveInnerStreamOpen: false);
            var options = new SslClientAuthenticationOptions
            {
                TargetHost = "127.0.0.1",
                EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
                RemoteCertificateValidationCallback = (_, certificate, _, _) => Trusted(certificate, caCopy),
            };
            if (identity is not null)
            {
                // PEM keys are ephemeral on Linux; a PKCS#12 round trip makes the key usable by the TLS stack.
                using var pem = X509Certificate2.CreateFromPemFile(identity.CertificatePath, identity.KeyPath);
                options.ClientCertificates = [X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), null)];
            }
            await ssl.AuthenticateAsClientAsync(options, cancellationToken).WaitAsync(patience, cancellationToken);
            return new TlsClientConnection(tcp, ssl);
        }
        catch
        {
            tcp.Dispose();
            throw;
        }
    }

    private static bool Trusted(X509Certificate? certificate, X509Certificate2 ca)
    {
        if (certificate is null)
        {
            return false;
        }
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(ca);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.DisableCertificateDownloads = true;
        using var leaf = X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
        return chain.Build(leaf);
    }

    public async ValueTask DisposeAsync()
    {
        await Stream.DisposeAsync();
        _tcp.Dispose();
    }
}
