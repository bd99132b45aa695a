using System.Security.Cryptography;

namespace Bastion.Ssh;

/// <summary>OpenSSH's SHA256 key fingerprint: <c>SHA256:</c> and unpadded base64 of the SHA-256 of the key blob.</summary>
public static class SshFingerprint
{
    public const string Prefix = "SHA256:";

    public static string Of(ReadOnlySpan<byte> keyBlob) => Prefix + Convert.ToBase64String(SHA256.HashData(keyBlob)).TrimEnd('=');

    /// <summary>Compares two fingerprints as OpenSSH prints them (the SHA256: prefix is case-sensitive, base64 is).</summary>
    public static bool Same(string a, string b) => string.Equals(Normalize(a), Normalize(b), StringComparison.Ordinal);

    private static string Normalize(string fingerprint) =>
        (fingerprint.StartsWith(Prefix, StringComparison.Ordinal) ? fingerprint : Prefix + fingerprint).TrimEnd('=');
}
