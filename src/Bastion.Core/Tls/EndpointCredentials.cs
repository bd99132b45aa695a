using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Bastion.Tls;

/// <summary>One loaded set: our certificate (with its key) as a handshake context, and the session CA.</summary>
public sealed record TlsCredentials(SslStreamCertificateContext Context, X509Certificate2 Certificate, X509Certificate2 Ca);

/// <summary>
/// Our certificate, key and the session CA, from their PEM files, re-read when any of the three files changes (checked
/// before each handshake, one stat per file). Established connections keep the set they were made with; a renewed
/// certificate is used from the next handshake on. A change that does not load (half-written, key does not match) keeps
/// the last good set and says why in <see cref="LastError"/>, so a botched renewal never takes the endpoint down.
/// </summary>
public sealed class EndpointCredentials(string certificatePath, string keyPath, string caPath, bool advertiseCa)
{
    private readonly Lock _gate = new();
    private (FileStamp?, FileStamp?, FileStamp?) _stamps;
    private TlsCredentials? _current;

    public string CertificatePath { get; } = certificatePath;
    public string KeyPath { get; } = keyPath;
    public string CaPath { get; } = caPath;

    /// <summary>Why the newest files could not be used (the last good set is still in use); null when they load.</summary>
    public string? LastError { get; private set; }

    /// <summary>Bumped every time a new set is loaded (tests and status: "reloaded").</summary>
    public int Generation { get; private set; }

    /// <summary>The current set; throws <see cref="CredentialsException"/> only if no set ever loaded.</summary>
    public TlsCredentials Current()
    {
        lock (_gate)
        {
            var stamps = (FileStamp.Of(CertificatePath), FileStamp.Of(KeyPath), FileStamp.Of(CaPath));
            if (_current is not null && stamps == _stamps)
            {
                return _current;
            }
            if (_current is null || LastError is null || stamps != _stamps)
            {
                _stamps = stamps;
                try
                {
                    _current = Load();
                    LastError = null;
                    Generation++;
                }
                catch (CredentialsException e)
                {
                    LastError = e.Message;
                    if (_current is null)
                    {
                        throw;
                    }
                }
            }
            return _current ?? throw new CredentialsException(LastError ?? "no certificate loaded");
        }
    }

    private TlsCredentials Load()
    {
        X509Certificate2 ca;
        try
        {
            ca = X509Certificate2.CreateFromPem(File.ReadAllText(CaPath));
        }
        catch (Exception e) when (e is CryptographicException or IOException or UnauthorizedAccessException)
        {
            throw new CredentialsException($"cannot load the CA certificate {CaPath}: {e.Message}");
        }
        X509Certificate2 cert;
        try
        {
            cert = X509Certificate2.CreateFromPemFile(CertificatePath, KeyPath);
        }
        catch (Exception e) when (e is CryptographicException or IOException or UnauthorizedAccessException)
        {
            ca.Dispose();
            throw new CredentialsException($"cannot load the certificate {CertificatePath} with key {KeyPath}: {e.Message}");
        }
        var trust = advertiseCa ? SslCertificateTrust.CreateForX509Collection([ca], sendTrustInHandshake: true) : null;
        var context = SslStreamCertificateContext.Create(cert, [ca], offline: true, trust);
        return new TlsCredentials(context, cert, ca);
    }
}

public sealed class CredentialsException(string message) : Exception(message);
