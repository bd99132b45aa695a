using System.Net;
using System.Numerics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.RegularExpressions;
using Bastion.Config;

namespace Bastion.Pki;

/// <summary>What <see cref="CertificateAuthority.Issue"/> wrote.</summary>
public sealed record IssueResult(IssuedCertificate Entry, string CertificatePath, string KeyPath, bool LifetimeClamped);

/// <summary>
/// The session CA: one directory holding <c>ca.crt</c>, <c>ca.key</c> (0600), <c>crl.pem</c>, <c>index.tsv</c>, and
/// <c>issued/NAME.crt</c> + <c>issued/NAME.key</c> (0600) for every name. ECDSA P-256 or P-384 throughout; server
/// certificates carry only serverAuth, client certificates only clientAuth, so one can never stand in for the other.
/// Every write is atomic; the CRL is rewritten on every revocation, and the daemon re-reads it on the next handshake.
/// </summary>
public sealed partial class CertificateAuthority
{
    public const string CaCertificateFile = "ca.crt";
    public const string CaKeyFile = "ca.key";
    public const string CrlFile = "crl.pem";
    public const string IssuedDir = "issued";

    /// <summary>Certificates start a little in the past, so a peer whose clock lags a few minutes accepts them.</summary>
    private static readonly TimeSpan ClockSkew = TimeSpan.FromMinutes(5);

    private readonly PkiConfig _settings;
    private readonly TimeProvider _time;

    private CertificateAuthority(string dir, PkiConfig settings, TimeProvider time)
    {
        Dir = dir;
        _settings = settings;
        _time = time;
    }

    public string Dir { get; }
    public string CaCertificatePath => Path.Combine(Dir, CaCertificateFile);
    public string CaKeyPath => Path.Combine(Dir, CaKeyFile);
    public string CrlPath => Path.Combine(Dir, CrlFile);
    public string IndexPath => Path.Combine(Dir, PkiIndex.FileName);

    public static bool Exists(string dir) => File.Exists(Path.Combine(dir, CaKeyFile));

    /// <summary>Creates a new session CA (and an empty CRL). Refuses to overwrite an existing one.</summary>
    public static CertificateAuthority Init(string dir, PkiConfig settings, TimeProvider time, string? commonName = null)
    {
        dir = Path.GetFullPath(dir);
        if (Exists(dir))
        {
            throw new PkiException($"{dir} already holds a CA ({CaKeyFile}); refusing to replace it — every certificate it issued would stop working. Use another --dir, or remove the directory first if you really mean it");
        }
        PkiFiles.EnsurePrivateDirectory(dir);
        var ca = new CertificateAuthority(dir, settings, time);
        var now = time.GetUtcNow();
        using var key = NewKey(settings.Algorithm);
        var subject = new X500DistinguishedName($"CN={Escape(commonName ?? $"Bastion session CA {Environment.MachineName} {PkiIndex.Time(now)}")}");
        var request = new CertificateRequest(subject, key, Hash(settings.Algorithm));
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        var ski = new X509SubjectKeyIdentifierExtension(request.PublicKey, false);
        request.CertificateExtensions.Add(ski);
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromSubjectKeyIdentifier(ski));
        using var cert = request.CreateSelfSigned(now - ClockSkew, now + settings.CaLifetime);
        PkiFiles.WritePrivate(ca.CaKeyPath, key.ExportPkcs8PrivateKeyPem());
        PkiFiles.WritePublic(ca.CaCertificatePath, cert.ExportCertificatePem());
        PkiIndex.Write(ca.IndexPath, []);
        ca.WriteCrl();
        return ca;
    }

    public static CertificateAuthority Open(string dir, PkiConfig settings, TimeProvider time)
    {
        dir = Path.GetFullPath(dir);
        if (!Exists(dir))
        {
            throw new PkiException($"{dir} holds no CA ({CaKeyFile} is missing) — create one with: bastionctl pki --dir {dir} init");
        }
        return new CertificateAuthority(dir, settings, time);
    }

    public X509Certificate2 LoadCaCertificate() => X509Certificate2.CreateFromPem(File.ReadAllText(CaCertificatePath));

    public IReadOnlyList<IssuedCertificate> List() => PkiIndex.Read(IndexPath);

    /// <summary>Issues a new certificate and key for <paramref name="name"/>; refuses when the name still has a valid one.</summary>
    public IssueResult Issue(CertificateRole role, string name, IReadOnlyList<string> dnsNames, IReadOnlyList<IPAddress> addresses, TimeSpan? lifetime = null)
    {
        CheckName(name);
        if (role == CertificateRole.Server && dnsNames.Count == 0 && addresses.Count == 0)
        {
            throw new PkiException($"a server certificate needs the names clients use to reach it — add --dns HOST and/or --ip ADDRESS (e.g. --ip 127.0.0.1)");
        }
        var now = _time.GetUtcNow();
        var index = PkiIndex.Read(IndexPath);
        if (index.FirstOrDefault(e => e.Name == name && !e.IsRevoked && e.NotAfter > now) is { } current)
        {
            throw new PkiException($"'{name}' already has a valid {current.Role.Text()} certificate (serial {current.Serial}, until {PkiIndex.Time(current.NotAfter)}) — renew it with `pki renew {name}`, or revoke it first with `pki revoke {name}`");
        }
        var sans = dnsNames.Select(d => "dns:" + d).Concat(addresses.Select(a => "ip:" + a)).ToList();
        return IssueAndRecord(index, role, name, sans, lifetime ?? (role == CertificateRole.Server ? _settings.ServerLifetime : _settings.ClientLifetime));
    }

    /// <summary>
    /// Renews <paramref name="name"/>, or (null) every valid certificate within <c>renewBefore</c> of expiry: a new key and
    /// certificate under the same name, role and SANs. The old certificate is not revoked, so a server keeps working until it
    /// picks up the new files (bastiond does on its next handshake).
    /// </summary>
    public IReadOnlyList<IssueResult> Renew(string? name)
    {
        var now = _time.GetUtcNow();
        var index = PkiIndex.Read(IndexPath);
        var latest = index.Where(e => !e.IsRevoked).GroupBy(e => e.Name).Select(g => g.MaxBy(e => e.NotAfter)!).ToList();
        List<IssuedCertificate> due;
        if (name is not null)
        {
            due = latest.Where(e => e.Name == name).ToList();
            if (due.Count == 0)
            {
                throw new PkiException($"no unrevoked certificate named '{name}' — see `pki list`; a revoked name is issued again with `pki issue`");
            }
        }
        else
        {
            due = latest.Where(e => e.NotAfter - now <= _settings.RenewBefore).ToList();
        }
        var results = new List<IssueResult>();
        foreach (var e in due)
        {
            var lifetime = e.Role == CertificateRole.Server ? _settings.ServerLifetime : _settings.ClientLifetime;
            results.Add(IssueAndRecord(index, e.Role, e.Name, e.Sans, lifetime));
        }
        return results;
    }

    /// <summary>Revokes by name (every unrevoked certificate of that name) or by serial, then rewrites the CRL.</summary>
    public IReadOnlyList<IssuedCertificate> Revoke(string nameOrSerial)
    {
        var now = _time.GetUtcNow();
        var index = PkiIndex.Read(IndexPath);
        var serial = nameOrSerial.Replace(":", "", StringComparison.Ordinal).ToUpperInvariant();
        var targets = index.Where(e => !e.IsRevoked && (e.Name == nameOrSerial || e.Serial == serial)).ToList();
        if (targets.Count == 0)
        {
            var already = index.Any(e => e.IsRevoked && (e.Name == nameOrSerial || e.Serial == serial));
            throw new PkiException(already
                ? $"'{nameOrSerial}' is already revoked"
                : $"no certificate named or numbered '{nameOrSerial}' — see `pki list`");
        }
        var revoked = new List<IssuedCertificate>();
        for (var i = 0; i < index.Count; i++)
        {
            if (targets.Contains(index[i]))
            {
                index[i] = index[i] with { RevokedAt = now };
                revoked.Add(index[i]);
            }
        }
        PkiIndex.Write(IndexPath, index);
        WriteCrl();
        return revoked;
    }

    /// <summary>Writes <c>crl.pem</c> from the index, signed by the CA, with the next CRL number. Valid until the CA expires:
    /// bastiond trusts the file's content, not its nextUpdate, and re-reads it when it changes.</summary>
    public string WriteCrl()
    {
        using var ca = LoadSigningCertificate();
        var builder = new CertificateRevocationListBuilder();
        foreach (var e in PkiIndex.Read(IndexPath).Where(e => e.IsRevoked))
        {
            builder.AddEntry(Convert.FromHexString(e.Serial), e.RevokedAt!.Value, X509RevocationReason.Unspecified);
        }
        var number = BigInteger.One;
        if (File.Exists(CrlPath))
        {
            try
            {
                CertificateRevocationListBuilder.LoadPem(File.ReadAllText(CrlPath), out var previous);
                number = previous + 1;
            }
            catch (CryptographicException)
            {
                // An unreadable CRL is replaced; its number is lost, the revocations are not (they come from the index).
            }
        }
        var now = _time.GetUtcNow();
        var crl = builder.Build(ca, number, ca.NotAfter.ToUniversalTime(), Hash(_settings.Algorithm), thisUpdate: now);
        PkiFiles.WritePublic(CrlPath, PemEncoding.WriteString("X509 CRL", crl));
        return CrlPath;
    }

    /// <summary>Valid certificates that expire within <c>renewBefore</c> (shown by <c>pki list</c>).</summary>
    /// <remarks>Only the newest certificate of each name counts: a renewed one's predecessor is not due again.</remarks>
    public IReadOnlyList<IssuedCertificate> DueForRenewal()
    {
        var now = _time.GetUtcNow();
        return PkiIndex.Read(IndexPath).Where(e => !e.IsRevoked).GroupBy(e => e.Name).Select(g => g.MaxBy(e => e.NotAfter)!)
            .Where(e => e.NotAfter > now && e.NotAfter - now <= _settings.RenewBefore).ToList();
    }

    private IssueResult IssueAndRecord(List<IssuedCertificate> index, CertificateRole role, string name, IReadOnlyList<string> sans, TimeSpan lifetime)
    {
        using var ca = LoadSigningCertificate();
        var now = _time.GetUtcNow();
        var notAfter = now + lifetime;
        var clamped = false;
        if (notAfter > ca.NotAfter.ToUniversalTime())
        {
            notAfter = ca.NotAfter.ToUniversalTime(); // a certificate cannot outlive its CA
            clamped = true;
        }
        if (notAfter <= now)
        {
            throw new PkiException($"the CA in {Dir} expired on {PkiIndex.Time(ca.NotAfter.ToUniversalTime())} — create a new session CA with `pki init` in a new directory");
        }
        using var key = NewKey(_settings.Algorithm);
        var request = new CertificateRequest(new X500DistinguishedName($"CN={Escape(name)}"), key, Hash(_settings.Algorithm));
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([role.Eku()], true));
        if (sans.Count > 0)
        {
            var san = new SubjectAlternativeNameBuilder();
            foreach (var s in sans)
            {
                if (s.StartsWith("dns:", StringComparison.Ordinal))
                {
                    san.AddDnsName(s[4..]);
                }
                else
                {
                    san.AddIpAddress(IPAddress.Parse(s[3..]));
                }
            }
            request.CertificateExtensions.Add(san.Build());
        }
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(ca, true, false));
        var serial = NewSerial();
        var notBefore = now - ClockSkew < ca.NotBefore.ToUniversalTime() ? ca.NotBefore.ToUniversalTime() : now - ClockSkew;
        using var cert = request.Create(ca, notBefore, notAfter, serial);

        var issued = Path.Combine(Dir, IssuedDir);
        PkiFiles.EnsurePrivateDirectory(issued);
        var keyPath = Path.Combine(issued, name + ".key");
        var certPath = Path.Combine(issued, name + ".crt");
        // Key first: a certificate file never points at a key that is not there yet.
        PkiFiles.WritePrivate(keyPath, key.ExportPkcs8PrivateKeyPem());
        PkiFiles.WritePublic(certPath, cert.ExportCertificatePem());
        var entry = new IssuedCertificate(Convert.ToHexString(serial), role, name, cert.NotBefore.ToUniversalTime(), cert.NotAfter.ToUniversalTime(),
            null, sans, SpkiPin.Of(cert));
        index.Add(entry);
        PkiIndex.Write(IndexPath, index);
        return new IssueResult(entry, certPath, keyPath, clamped);
    }

    private X509Certificate2 LoadSigningCertificate()
    {
        try
        {
            return X509Certificate2.CreateFromPemFile(CaCertificatePath, CaKeyPath);
        }
        catch (Exception e) when (e is CryptographicException or IOException or UnauthorizedAccessException)
        {
            throw new PkiException($"cannot load the CA from {Dir}: {e.Message} — run as the user that owns {CaKeyPath}");
        }
    }

    private static ECDsa NewKey(PkiAlgorithm algorithm) =>
        ECDsa.Create(algorithm == PkiAlgorithm.EcdsaP384 ? ECCurve.NamedCurves.nistP384 : ECCurve.NamedCurves.nistP256);

    private static HashAlgorithmName Hash(PkiAlgorithm algorithm) =>
        algorithm == PkiAlgorithm.EcdsaP384 ? HashAlgorithmName.SHA384 : HashAlgorithmName.SHA256;

    /// <summary>128 random bits, positive, without a leading zero byte (so the hex the index records is what X.509 tools print).</summary>
    private static byte[] NewSerial()
    {
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] = (byte)((serial[0] & 0x7F) | 0x40);
        return serial;
    }

    public static void CheckName(string name)
    {
        if (!NamePattern().IsMatch(name))
        {
            throw new PkiException($"'{name}' is not a certificate name — use 1 to 63 characters of a-z, 0-9, '.', '_' and '-', starting with a letter or digit");
        }
    }

    [GeneratedRegex("^[a-z0-9][a-z0-9._-]{0,62}$")]
    private static partial Regex NamePattern();

    private static string Escape(string value) => value.Replace("\"", "", StringComparison.Ordinal).Replace(",", " ", StringComparison.Ordinal).Replace("=", " ", StringComparison.Ordinal);
}
