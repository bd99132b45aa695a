using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Bastion.Supervision;

namespace Bastion.Daemon.Fleet;

/// <summary>Why the broker's TLS certificate was refused; words are made by <see cref="FleetBrokerTrust.Describe"/>.</summary>
internal enum BrokerCertificateProblem
{
    None,
    /// <summary>The broker presented no certificate.</summary>
    Missing,
    /// <summary>The certificate does not chain to a certificate of fleet.ca (or is expired, or not for servers).</summary>
    Untrusted,
    /// <summary>Chains to fleet.ca but does not name the host of the server URL.</summary>
    NameMismatch,
}

/// <summary>
/// Verifies the broker's TLS certificate against <c>fleet.ca</c> only (not the system store): the chain must end at one
/// of its certificates, without downloads, and the certificate must name the host the URL names (what SslStream checks
/// against the target host). Remembers why it last refused, so the component's reason can say "certificate" rather than
/// the TLS stack's generic words.
/// </summary>
internal sealed class FleetBrokerTrust : IDisposable
{
    private readonly X509Certificate2Collection _roots;
    private int _problem;

    private FleetBrokerTrust(X509Certificate2Collection roots) => _roots = roots;

    /// <summary>Reads the PEM CA file; a file without a certificate is an error naming the file and the fix.</summary>
    public static FleetBrokerTrust Load(string path)
    {
        var roots = new X509Certificate2Collection();
        try
        {
            roots.ImportFromPemFile(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or CryptographicException)
        {
            throw new ComponentFailureException($"fleet.ca {path} cannot be read as PEM certificates ({e.Message}) — put the broker's CA certificate there (PEM) and reload");
        }
        if (roots.Count == 0)
        {
            throw new ComponentFailureException($"fleet.ca {path} holds no PEM certificate — put the broker's CA certificate there and reload");
        }
        return new FleetBrokerTrust(roots);
    }

    /// <summary>The last refusal's reason, cleared (one connection attempt's worth).</summary>
    public BrokerCertificateProblem TakeProblem() => (BrokerCertificateProblem)Interlocked.Exchange(ref _problem, 0);

    /// <summary>For <see cref="SslClientAuthenticationOptions.RemoteCertificateValidationCallback"/>.</summary>
    public bool Validate(object sender, X509Certificate? certificate, X509Chain? presented, SslPolicyErrors errors)
    {
        var problem = Check(certificate, presented, errors);
        Interlocked.Exchange(ref _problem, (int)problem);
        return problem == BrokerCertificateProblem.None;
    }

    private BrokerCertificateProblem Check(X509Certificate? certificate, X509Chain? presented, SslPolicyErrors errors)
    {
        if (certificate is null || (errors & SslPolicyErrors.RemoteCertificateNotAvailable) != 0)
        {
            return BrokerCertificateProblem.Missing;
        }
        using var leaf = new X509Certificate2(certificate);
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(_roots);
        chain.ChainPolicy.DisableCertificateDownloads = true;
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.ApplicationPolicy.Add(new Oid("1.3.6.1.5.5.7.3.1")); // serverAuth
        if (presented is not null)
        {
            // Intermediates the broker sent; trust still comes only from fleet.ca.
            foreach (var element in presented.ChainElements.Skip(1))
            {
                chain.ChainPolicy.ExtraStore.Add(element.Certificate);
            }
        }
        if (!chain.Build(leaf))
        {
            return BrokerCertificateProblem.Untrusted;
        }
        return (errors & SslPolicyErrors.RemoteCertificateNameMismatch) != 0 ? BrokerCertificateProblem.NameMismatch : BrokerCertificateProblem.None;
    }

    public static string Describe(BrokerCertificateProblem problem, string caPath) => problem switch
    {
        BrokerCertificateProblem.Missing => "the broker presented no TLS certificate",
        BrokerCertificateProblem.Untrusted => $"the broker's TLS certificate is not signed by the CA in fleet.ca {caPath} (or is expired, or not for servers) — refused; check fleet.ca and the broker's certificate",
        BrokerCertificateProblem.NameMismatch => "the broker's TLS certificate does not name the host in fleet.servers — refused; use the host name the certificate names, or reissue it",
        _ => "the broker's TLS certificate is fine",
    };

    public void Dispose()
    {
        foreach (var root in _roots)
        {
            root.Dispose();
        }
    }
}
