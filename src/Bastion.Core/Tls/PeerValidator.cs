using System.Security.Cryptography.X509Certificates;
using Bastion.Pki;

namespace Bastion.Tls;

/// <summary>The outcome of checking one peer: accepted or not, why, and who it claimed to be (for the log).</summary>
public sealed record PeerVerdict(bool Accepted, string Reason, string Subject, string Serial)
{
    /// <summary>False when the peer presented no certificate at all.</summary>
    public bool Presented { get; init; } = true;

    public static PeerVerdict Refused(string reason, X509Certificate2? cert = null) =>
        new(false, reason, cert?.Subject ?? "-", cert?.SerialNumber ?? "-") { Presented = cert is not null };

    public override string ToString() => $"{Subject} serial {Serial}";
}

/// <summary>
/// Decides whether a peer's certificate may talk to us, inside the handshake: a certificate is present; it chains to the
/// session CA only (custom root trust, no downloads, the system store ignored); it is valid now; its extended key usage is
/// the role we expect (clientAuth from a client, serverAuth from a server — explicitly present, never implied); it is not in
/// the CA's revocation list (re-read when the file changes; unusable list = refuse); and its key is pinned, if pins are set.
/// </summary>
public sealed class PeerValidator(CertificateRole expectedRole, IReadOnlyCollection<string> pins, RevocationList? revocations, TimeProvider time)
{
    public CertificateRole ExpectedRole { get; } = expectedRole;

    /// <param name="presented">The peer's certificate, if any.</param>
    /// <param name="ca">The session CA.</param>
    /// <param name="expectedName">For a server: the host name or IP address we dialled (or --server-name); the certificate's
    /// subject alternative names must contain it (as stunnel's checkHost / checkIP). Null: not checked (a server that phones
    /// home has no name we chose).</param>
    public PeerVerdict Validate(X509Certificate? presented, X509Certificate2 ca, string? expectedName = null)
    {
        if (presented is null)
        {
            return PeerVerdict.Refused(ExpectedRole == CertificateRole.Client ? "no client certificate presented" : "no server certificate presented");
        }
        using var leaf = presented as X509Certificate2 is { } c2 ? X509CertificateLoader.LoadCertificate(c2.RawData) : X509CertificateLoader.LoadCertificate(presented.GetRawCertData());
        var refusal = Check(leaf, ca) ?? (expectedName is null ? null : CheckName(leaf, expectedName));
        return refusal is null
            ? new PeerVerdict(true, "accepted", leaf.Subject, leaf.SerialNumber)
            : PeerVerdict.Refused(refusal, leaf);
    }

    private string? Check(X509Certificate2 leaf, X509Certificate2 ca)
    {
        var now = time.GetUtcNow();
        using (var chain = new X509Chain())
        {
            var policy = chain.ChainPolicy;
            policy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            policy.CustomTrustStore.Add(ca);
            policy.DisableCertificateDownloads = true;
            policy.RevocationMode = X509RevocationMode.NoCheck; // ours, below: .NET cannot be handed a fresh CRL on Linux
            policy.VerificationTime = now.UtcDateTime;
            policy.VerificationTimeIgnored = false;
            if (!chain.Build(leaf))
            {
                var flags = chain.ChainStatus.Aggregate(X509ChainStatusFlags.NoError, (a, s) => a | s.Status);
                return Describe(flags, leaf, now);
            }
            if (chain.ChainElements.Count < 2 || !chain.ChainElements[^1].Certificate.RawDataMemory.Span.SequenceEqual(ca.RawDataMemory.Span))
            {
                return $"not signed by the session CA (issuer: {leaf.Issuer})";
            }
        }
        if (!HasEku(leaf, ExpectedRole.Eku().Value!))
        {
            var other = ExpectedRole == CertificateRole.Client ? CertificateRole.Server : CertificateRole.Client;
            return HasEku(leaf, other.Eku().Value!)
                ? $"a {other.Text()} certificate presented as {ExpectedRole.Text()} (its extended key usage does not allow {ExpectedRole.Text()} authentication)"
                : $"certificate without the {ExpectedRole.Text()} authentication extended key usage";
        }
        if (revocations?.Check(leaf.SerialNumber, ca) is { } revoked)
        {
            return revoked;
        }
        if (pins.Count > 0 && !pins.Contains(SpkiPin.Of(leaf)))
        {
            return $"public key not in the endpoint's pins (its pin: {SpkiPin.Of(leaf)})";
        }
        return null;
    }

    /// <summary>Null when <paramref name="expected"/> is among the certificate's DNS or IP subject alternative names.</summary>
    public static string? CheckName(X509Certificate2 leaf, string expected)
    {
        var san = leaf.Extensions.OfType<X509SubjectAlternativeNameExtension>().FirstOrDefault();
        var dns = san?.EnumerateDnsNames().ToList() ?? [];
        var ips = san?.EnumerateIPAddresses().ToList() ?? [];
        var host = expected.Trim('[', ']');
        if (System.Net.IPAddress.TryParse(host, out var ip))
        {
            if (ips.Any(a => a.Equals(ip) || (ip.IsIPv4MappedToIPv6 && a.Equals(ip.MapToIPv4()))))
            {
                return null;
            }
        }
        else if (dns.Any(d => DnsMatches(d, host)))
        {
            return null;
        }
        var names = string.Join(", ", dns.Select(d => "dns:" + d).Concat(ips.Select(a => "ip:" + a)));
        return names.Length == 0
            ? $"certificate names no host (no subject alternative names), so it cannot be for {host}"
            : $"certificate is for {names}, not {host} (another host's certificate? if this is the right server, pass --server-name with one of those names)";
    }

    private static bool DnsMatches(string pattern, string host)
    {
        host = host.TrimEnd('.');
        pattern = pattern.TrimEnd('.');
        if (pattern.StartsWith("*.", StringComparison.Ordinal))
        {
            var dot = host.IndexOf('.', StringComparison.Ordinal);
            return dot > 0 && string.Equals(pattern[1..], host[dot..], StringComparison.OrdinalIgnoreCase);
        }
        return string.Equals(pattern, host, StringComparison.OrdinalIgnoreCase);
    }

    private static string Describe(X509ChainStatusFlags flags, X509Certificate2 leaf, DateTimeOffset now)
    {
        if ((flags & (X509ChainStatusFlags.UntrustedRoot | X509ChainStatusFlags.PartialChain)) != 0)
        {
            return $"not signed by the session CA (issuer: {leaf.Issuer})";
        }
        if ((flags & X509ChainStatusFlags.NotTimeValid) != 0)
        {
            return now < leaf.NotBefore.ToUniversalTime()
                ? $"certificate not valid before {PkiIndex.Time(leaf.NotBefore.ToUniversalTime())}"
                : $"certificate expired on {PkiIndex.Time(leaf.NotAfter.ToUniversalTime())} (or its CA has)";
        }
        if ((flags & X509ChainStatusFlags.NotSignatureValid) != 0)
        {
            return "certificate signature invalid";
        }
        return $"certificate chain invalid ({flags})";
    }

    private static bool HasEku(X509Certificate2 cert, string oid) =>
        cert.Extensions.OfType<X509EnhancedKeyUsageExtension>().Any(e => e.EnhancedKeyUsages.Cast<System.Security.Cryptography.Oid>().Any(o => o.Value == oid));
}
