using Bastion.Config;

namespace Bastion.Ssh;

/// <summary>An OpenSSH host certificate as the server presented it (the signature was checked by the SSH library).</summary>
public sealed record PresentedCertificate(
    byte[] CaKeyBlob, IReadOnlyList<string> Principals, DateTimeOffset ValidAfter, DateTimeOffset ValidBefore, bool IsHostCertificate);

/// <summary>The host key a server presented during key exchange.</summary>
public sealed record PresentedHostKey(string KeyType, byte[] Blob, PresentedCertificate? Certificate = null)
{
    public string Fingerprint => SshFingerprint.Of(Blob);

    public override string ToString() => $"{KeyType} {Fingerprint}";
}

/// <summary>
/// Trusted or not, and why, in words an admin can check against the server. <paramref name="OtherKeyMayMatch"/>: the
/// key was refused only because it is not one of the trusted keys, so another key type of the same server may be.
/// </summary>
public sealed record HostKeyVerdict(bool Trusted, string Description, bool OtherKeyMayMatch = false);

/// <summary>
/// Decides whether a presented host key is the server's: a pinned SHA256 fingerprint, a key in a known_hosts file, or
/// a host certificate signed by a configured CA (<c>ca:</c> or an <c>@cert-authority</c> line) that names this host
/// and is valid now. <c>@revoked</c> lines refuse a key even if it is pinned. There is no "accept anything".
/// </summary>
public sealed class HostKeyPolicy
{
    private readonly HostKeyConfig _config;
    private readonly KnownHosts? _knownHosts;
    private readonly byte[]? _caBlob;

    /// <param name="config">The tunnel's hostKey section.</param>
    /// <param name="knownHostsText">Contents of <c>knownHosts</c> (read by the caller), or null when none is configured.</param>
    public HostKeyPolicy(HostKeyConfig config, string? knownHostsText)
    {
        _config = config;
        _knownHosts = knownHostsText is null ? null : KnownHosts.Parse(knownHostsText);
        _caBlob = config.Ca is { } ca ? ParseKeyLine(ca) : null;
    }

    public HostKeyVerdict Verify(string host, int port, PresentedHostKey presented, DateTimeOffset now)
    {
        var entries = _knownHosts?.For(host, port).ToList() ?? [];
        var cert = presented.Certificate;
        foreach (var revoked in entries.Where(e => e.Marker == KnownHostMarker.Revoked))
        {
            if (revoked.KeyBlob.AsSpan().SequenceEqual(presented.Blob) || (cert is not null && revoked.KeyBlob.AsSpan().SequenceEqual(cert.CaKeyBlob)))
            {
                return new(false, $"host key {presented} is marked @revoked in {_config.KnownHosts} line {revoked.Line}");
            }
        }
        if (cert is not null && TrustedCa(cert.CaKeyBlob, entries) is { } caSource)
        {
            var caFingerprint = SshFingerprint.Of(cert.CaKeyBlob);
            if (!cert.IsHostCertificate)
            {
                return new(false, $"presented a user certificate, not a host certificate (CA {caFingerprint})");
            }
            if (cert.Principals.Count > 0 && !cert.Principals.Any(p => string.Equals(p, host, StringComparison.OrdinalIgnoreCase)))
            {
                return new(false, $"host certificate from CA {caFingerprint} is for {string.Join(", ", cert.Principals)}, not {host}");
            }
            if (now < cert.ValidAfter || now >= cert.ValidBefore)
            {
                return new(false, $"host certificate from CA {caFingerprint} is not valid now (valid {cert.ValidAfter:u} to {cert.ValidBefore:u})");
            }
            return new(true, $"host certificate signed by {caSource} {caFingerprint}");
        }
        var fingerprint = presented.Fingerprint;
        if (_config.Fingerprints.Any(f => SshFingerprint.Same(f, fingerprint)))
        {
            return new(true, $"pinned fingerprint {fingerprint}");
        }
        foreach (var entry in entries.Where(e => e.Marker == KnownHostMarker.None))
        {
            if (entry.KeyBlob.AsSpan().SequenceEqual(presented.Blob))
            {
                return new(true, $"{_config.KnownHosts} line {entry.Line}");
            }
        }
        return new(false, $"host key mismatch: the server presented {presented}; expected {Expected(host, port, entries)}", OtherKeyMayMatch: true);
    }

    /// <summary>
    /// The host key algorithms to offer this host (see <see cref="SshAlgorithms.HostKeysFor"/>): the types known_hosts
    /// lists for it, certificate types when a CA is trusted, any type for a bare fingerprint pin, minus
    /// <paramref name="refused"/>.
    /// </summary>
    public IReadOnlyList<string> HostKeyAlgorithms(string host, int port, IReadOnlySet<string> refused)
    {
        var entries = _knownHosts?.For(host, port).ToList() ?? [];
        var known = entries.Where(e => e.Marker == KnownHostMarker.None).Select(e => e.KeyType).ToHashSet(StringComparer.Ordinal);
        var hasCa = _caBlob is not null || entries.Any(e => e.Marker == KnownHostMarker.CertAuthority);
        return SshAlgorithms.HostKeysFor(known, hasCa, !_config.Fingerprints.IsEmpty, refused);
    }

    private string? TrustedCa(byte[] caBlob, List<KnownHostEntry> entries)
    {
        if (_caBlob is not null && _caBlob.AsSpan().SequenceEqual(caBlob))
        {
            return "host CA (hostKey.ca)";
        }
        return entries.Any(e => e.Marker == KnownHostMarker.CertAuthority && e.KeyBlob.AsSpan().SequenceEqual(caBlob))
            ? $"@cert-authority in {_config.KnownHosts}"
            : null;
    }

    private string Expected(string host, int port, List<KnownHostEntry> entries)
    {
        var parts = new List<string>();
        if (!_config.Fingerprints.IsEmpty)
        {
            parts.Add("pinned " + string.Join(" or ", _config.Fingerprints));
        }
        if (_config.KnownHosts is { } file)
        {
            var keys = entries.Where(e => e.Marker == KnownHostMarker.None).Select(e => $"{e.KeyType} {e.Fingerprint}").ToList();
            parts.Add(keys.Count == 0
                ? $"a key for {KnownHosts.LookupName(host, port)} in {file} (it has none)"
                : $"{string.Join(" or ", keys)} from {file}");
        }
        if (_caBlob is not null || entries.Any(e => e.Marker == KnownHostMarker.CertAuthority))
        {
            parts.Add("a host certificate signed by the configured CA");
        }
        return string.Join("; or ", parts);
    }

    /// <summary>The key blob of a public key line (<c>type base64 [comment]</c>), or null.</summary>
    public static byte[]? ParseKeyLine(string line)
    {
        var parts = line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length < 2)
        {
            return null;
        }
        var buffer = new byte[parts[1].Length];
        return Convert.TryFromBase64String(parts[1], buffer, out var written) ? buffer[..written] : null;
    }
}
