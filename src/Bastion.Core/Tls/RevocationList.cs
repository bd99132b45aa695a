using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Bastion.Tls;

/// <summary>
/// The CA's CRL as the daemon sees it: re-read when the file changes (checked on every handshake), so a revocation takes
/// effect on the next handshake without a restart. Fails closed: a missing, unreadable or wrongly signed CRL makes every
/// check answer "refuse", with the reason.
/// </summary>
public sealed class RevocationList(string path)
{
    private readonly Lock _gate = new();
    private FileStamp? _stamp;
    private X509Certificate2? _ca;
    private HashSet<string>? _serials;
    private string? _error;

    public string Path { get; } = path;

    /// <summary>Null when the serial is not revoked; otherwise why the peer must be refused.</summary>
    public string? Check(string serialHex, X509Certificate2 ca)
    {
        var (serials, _) = Current(ca);
        if (serials is null)
        {
            return Problem(ca);
        }
        return serials.Contains(CrlReader.NormalizeSerial(Convert.FromHexString(serialHex))) ? "certificate revoked" : null;
    }

    /// <summary>Null when the list loads and verifies; otherwise the refusal everyone gets (for status).</summary>
    public string? Problem(X509Certificate2 ca) =>
        Current(ca).Serials is null ? $"revocation list {Path} unusable ({Current(ca).Error}); refusing every peer until it is fixed (bastionctl pki crl rewrites it)" : null;

    private (HashSet<string>? Serials, string? Error) Current(X509Certificate2 ca)
    {
        lock (_gate)
        {
            var stamp = FileStamp.Of(Path);
            if (stamp is null)
            {
                _stamp = null;
                _serials = null;
                return (null, "missing or unreadable");
            }
            if (stamp == _stamp && ReferenceEquals(ca, _ca) && (_serials is not null || _error is not null))
            {
                return (_serials, _error);
            }
            _stamp = stamp;
            _ca = ca;
            try
            {
                _serials = CrlReader.ReadRevokedSerials(File.ReadAllBytes(Path), ca);
                _error = null;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or CryptographicException or System.Formats.Asn1.AsnContentException or FormatException or ArgumentException)
            {
                _serials = null;
                _error = e is CryptographicException ? e.Message : "not a CRL: " + e.Message;
            }
            return (_serials, _error);
        }
    }
}
