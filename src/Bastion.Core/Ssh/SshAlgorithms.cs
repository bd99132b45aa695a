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
}
