namespace Bastion.Ssh;

/// <summary>
/// The only algorithms a tunnel offers, in preference order. AEAD ciphers only, AES-GCM first (SSH.NET's
/// chacha20-poly1305 is about 3x slower on this kind of machine, so it is not offered at all); key exchange
/// without SHA-1 or the 1024/2048-bit groups; host keys without ssh-rsa (SHA-1 signatures). MACs are unused with
/// AEAD ciphers, but the list must not be empty in SSH.NET, so it holds only SHA-2 encrypt-then-MAC.
/// </summary>
public static class SshAlgorithms
{
    public static readonly IReadOnlyList<string> KeyExchange =
    [
        "curve25519-sha256", "curve25519-sha256@libssh.org",
        "ecdh-sha2-nistp256", "ecdh-sha2-nistp384", "ecdh-sha2-nistp521",
        "diffie-hellman-group16-sha512", "diffie-hellman-group18-sha512",
    ];

    public static readonly IReadOnlyList<string> Ciphers = ["aes128-gcm@openssh.com", "aes256-gcm@openssh.com"];

    public static readonly IReadOnlyList<string> Macs = ["hmac-sha2-256-etm@openssh.com", "hmac-sha2-512-etm@openssh.com"];

    public static readonly IReadOnlyList<string> HostKeys =
    [
        "ssh-ed25519-cert-v01@openssh.com", "ecdsa-sha2-nistp256-cert-v01@openssh.com",
        "ecdsa-sha2-nistp384-cert-v01@openssh.com", "ecdsa-sha2-nistp521-cert-v01@openssh.com",
        "rsa-sha2-512-cert-v01@openssh.com", "rsa-sha2-256-cert-v01@openssh.com",
        "ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
        "rsa-sha2-512", "rsa-sha2-256",
    ];

    /// <summary>
    /// Keeps only the allowed names a library supports, in <paramref name="allowed"/>'s order. Names the library
    /// offers but the policy does not allow are dropped; the result is empty only if nothing allowed is supported.
    /// </summary>
    public static IReadOnlyList<string> Restrict(IEnumerable<string> supported, IReadOnlyList<string> allowed)
    {
        var have = new HashSet<string>(supported, StringComparer.Ordinal);
        return [.. allowed.Where(have.Contains)];
    }

    private const string CertSuffix = "-cert-v01@openssh.com";

    /// <summary>
    /// The host key algorithms to offer, in <see cref="HostKeys"/> order, so that a server with several host keys presents
    /// one the policy can trust (as OpenSSH orders them from known_hosts): when known_hosts (or a CA) says which key types
    /// this host has, only those; a bare fingerprint pin carries no type, so everything is offered except the algorithms a
    /// previous try of this connect showed to be keys that are not pinned (<paramref name="refused"/>). Empty: nothing
    /// left to offer, every key the server has was refused.
    /// </summary>
    /// <param name="knownTypes">Key types of this host's plain known_hosts entries (<c>ssh-ed25519</c>, <c>ssh-rsa</c>, …).</param>
    /// <param name="hasCa">A CA is configured (hostKey.ca or an @cert-authority line for this host).</param>
    /// <param name="hasFingerprints">Bare fingerprints are pinned (any key type may match).</param>
    /// <param name="refused">Algorithms whose key this server presented and the policy refused.</param>
    public static IReadOnlyList<string> HostKeysFor(IReadOnlyCollection<string> knownTypes, bool hasCa, bool hasFingerprints, IReadOnlySet<string> refused) =>
        [.. HostKeys.Where(name => !refused.Contains(name) && Acceptable(name, knownTypes, hasCa, hasFingerprints))];

    private static bool Acceptable(string algorithm, IReadOnlyCollection<string> knownTypes, bool hasCa, bool hasFingerprints)
    {
        if (algorithm.EndsWith(CertSuffix, StringComparison.Ordinal))
        {
            return hasCa;
        }
        return hasFingerprints || knownTypes.Contains(KeyTypeOf(algorithm));
    }

    /// <summary>The key type an algorithm signs with (<c>rsa-sha2-512</c> is an <c>ssh-rsa</c> key).</summary>
    public static string KeyTypeOf(string algorithm)
    {
        var plain = algorithm.EndsWith(CertSuffix, StringComparison.Ordinal) ? algorithm[..^CertSuffix.Length] : algorithm;
        return plain.StartsWith("rsa-sha2-", StringComparison.Ordinal) ? "ssh-rsa" : plain;
    }

    /// <summary>Every offered algorithm that signs with the same key as <paramref name="algorithm"/> (one key, one refusal).</summary>
    public static IEnumerable<string> SameKey(string algorithm)
    {
        var cert = algorithm.EndsWith(CertSuffix, StringComparison.Ordinal);
        var type = KeyTypeOf(algorithm);
        return HostKeys.Where(a => a.EndsWith(CertSuffix, StringComparison.Ordinal) == cert && KeyTypeOf(a) == type);
    }
}
