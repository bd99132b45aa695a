using Bastion.Config;

namespace Bastion.Daemon.Tls;

/// <summary>
/// Everything a TLS endpoint runs from, resolved from the config: the endpoint's record, the session CA certificate and
/// its CRL (<c>pki.dir</c>'s <c>ca.crt</c> and <c>crl.pem</c> when <c>tls[].ca</c> is unset; otherwise the given CA and
/// the <c>crl.pem</c> next to it), and pki.renewBefore for the expiry warning. A reload restarts the endpoint only when
/// this changes; certificate files are re-read on change without a restart.
/// </summary>
public sealed record TlsEndpointDefinition(TlsEndpointConfig Endpoint, string CaPath, string CrlPath, TimeSpan RenewBefore)
{
    public static TlsEndpointDefinition From(BastionConfig config, TlsEndpointConfig endpoint)
    {
        var pkiDir = config.Pki?.Dir ?? Path.Combine(config.Paths.StateDir, "pki");
        var caPath = endpoint.Ca ?? Path.Combine(pkiDir, Bastion.Pki.CertificateAuthority.CaCertificateFile);
        var crlPath = Path.Combine(Path.GetDirectoryName(caPath) ?? "/", Bastion.Pki.CertificateAuthority.CrlFile);
        return new TlsEndpointDefinition(endpoint, caPath, crlPath, (config.Pki ?? new PkiConfig()).RenewBefore);
    }
}
