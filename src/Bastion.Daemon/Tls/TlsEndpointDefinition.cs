using Bastion.Config;
using Bastion.Vnc;

namespace Bastion.Daemon.Tls;

/// <summary>
/// Everything a TLS endpoint runs from, resolved from the config: the endpoint's record, the session CA certificate and
/// its CRL (<c>pki.dir</c>'s <c>ca.crt</c> and <c>crl.pem</c> when <c>tls[].ca</c> is unset; otherwise the given CA and
/// the <c>crl.pem</c> next to it), pki.renewBefore for the expiry warning, and the backend it relays to. The endpoint that
/// <c>vnc.endpoint</c> names (vnc.mode always or fallback) fronts the emergency desktop: <see cref="FrontsVnc"/> is true and
/// its backend is the desktop's socket; with <c>vnc.stockViewers: x509vnc</c> it also serves VeNCrypt X509Vnc (<see cref="X509Vnc"/>).
/// A reload restarts the endpoint only when <see cref="WithoutLiveSettings"/> changes: the settings of <see cref="Live"/>
/// (dial interval, maxSessions, idleTimeout, stockViewers) are handed to the running endpoint; certificate files are re-read
/// on change without a restart.
/// </summary>
public sealed record TlsEndpointDefinition(TlsEndpointConfig Endpoint, string CaPath, string CrlPath, TimeSpan RenewBefore, BackendAddress Backend, bool FrontsVnc, bool X509Vnc = false)
{
    public static TlsEndpointDefinition From(BastionConfig config, TlsEndpointConfig endpoint)
    {
        var pkiDir = config.Pki?.Dir ?? Path.Combine(config.Paths.StateDir, "pki");
        var caPath = endpoint.Ca ?? Path.Combine(pkiDir, Bastion.Pki.CertificateAuthority.CaCertificateFile);
        var crlPath = Path.Combine(Path.GetDirectoryName(caPath) ?? "/", Bastion.Pki.CertificateAuthority.CrlFile);
        var frontsVnc = config.Vnc is { Mode: not VncMode.Off } vnc && vnc.Endpoint == endpoint.Name;
        var backend = frontsVnc
            ? new BackendAddress(null, VncPaths.Socket(config.Paths))
            : endpoint.Backend ?? throw new InvalidOperationException($"tls/{endpoint.Name} has no backend (the config validator requires one)");
        var x509Vnc = frontsVnc && config.Vnc!.StockViewers == VncStockViewers.X509Vnc;
        return new TlsEndpointDefinition(endpoint, caPath, crlPath, (config.Pki ?? new PkiConfig()).RenewBefore, backend, frontsVnc, x509Vnc);
    }

    /// <summary>What the running endpoint takes live on a reload (the spec's Policy).</summary>
    public TlsLiveSettings Live => new(Endpoint.Interval, Endpoint.MaxSessions, Endpoint.IdleTimeout, X509Vnc);

    /// <summary>This definition with the <see cref="Live"/> settings left out: what a reload compares to decide a restart.</summary>
    public TlsEndpointDefinition WithoutLiveSettings() => this with
    {
        Endpoint = Endpoint with { Interval = TimeSpan.Zero, MaxSessions = 0, IdleTimeout = TimeSpan.Zero },
        X509Vnc = false,
    };
}

/// <summary>
/// The settings of a TLS endpoint that apply to the running endpoint without a restart (a reload never cuts connected
/// admins off for them): dial <c>interval</c> and <c>maxSessions</c> from the next dial on, <c>idleTimeout</c> for open and
/// new sessions, and whether stock viewers get VeNCrypt X509Vnc (<c>vnc.stockViewers</c>) from the next connection on.
/// </summary>
public sealed record TlsLiveSettings(TimeSpan Interval, int MaxSessions, TimeSpan IdleTimeout, bool X509Vnc);
