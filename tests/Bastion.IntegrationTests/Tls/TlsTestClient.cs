using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Bastion.Pki;

namespace Bastion.IntegrationTests.Tls;

/// <summary>A plain .NET TLS client for an endpoint: the test's own peer, with or without a client certificate.</summary>
internal sealed class TlsTestClient : IAsyncDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);
    private readonly TcpClient _tcp;

    private TlsTestClient(TcpClient tcp, SslStream ssl)
    {
        _tcp = tcp;
        Stream = ssl;
    }

    public SslStream Stream { get; }

    /// <summary>Connects and completes the handshake; the server's certificate must chain to <paramref name="caPath"/>.</summary>
    public static async Task<TlsTestClient> ConnectAsync(int port, string caPath, IssueResult? identity, CancellationToken cancellationToken = default)
    {
        var tcp = new TcpClient();
        try
        {
            await tcp.ConnectAsync("127.0.0.1", port, cancellationToken).AsTask().WaitAsync(Patience, cancellationToken);
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
            await ssl.AuthenticateAsClientAsync(options, cancellationToken).WaitAsync(Patience, cancellationToken);
            return new TlsTestClient(tcp, ssl);
        }
        catch
        {
            tcp.Dispose();
            throw;
        }
    }

    /// <summary>Sends a line and reads the echo (empty when the server closed instead).</summary>
    public async Task<string> RoundTripAsync(string text)
    {
        var data = System.Text.Encoding.ASCII.GetBytes(text);
        await Stream.WriteAsync(data).AsTask().WaitAsync(Patience);
        var buffer = new byte[data.Length];
        var read = 0;
        while (read < buffer.Length)
        {
            var n = await Stream.ReadAsync(buffer.AsMemory(read)).AsTask().WaitAsync(Patience);
            if (n == 0)
            {
                break;
            }
            read += n;
        }
        return System.Text.Encoding.ASCII.GetString(buffer, 0, read);
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
