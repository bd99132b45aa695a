using System.Security.Cryptography;
using Org.BouncyCastle.Math.EC.Rfc7748;

namespace Bastion.Tor;

/// <summary>A v3 client-authorization key pair (x25519), both halves as tor writes them: 52 base32 characters.</summary>
public sealed record OnionClientKeyPair(string PublicKey, string PrivateKey)
{
    /// <summary>The line for the service side (<c>authorized_clients/NAME.auth</c>).</summary>
    public string ServiceLine => OnionClientKeys.ServiceLine(PublicKey);

    /// <summary>The line for the client's ClientOnionAuthDir (<c>NAME.auth_private</c>); <paramref name="address"/> without ".onion".</summary>
    public string ClientLine(string address) => $"{OnionAddress.WithoutSuffix(address)}:descriptor:x25519:{PrivateKey}";

    /// <summary>Never print the private half by accident.</summary>
    public override string ToString() => $"x25519 public key {PublicKey}";
}

/// <summary>x25519 keys for v3 client authorization (BouncyCastle's RFC 7748 code: no homemade curve arithmetic).</summary>
public static class OnionClientKeys
{
    public const string ServicePrefix = "descriptor:x25519:";

    public static OnionClientKeyPair Generate()
    {
        var secret = RandomNumberGenerator.GetBytes(X25519.ScalarSize);
        // Clamped as RFC 7748 decodes scalars, so the stored private key is exactly what tor uses.
        secret[0] &= 248;
        secret[31] &= 127;
        secret[31] |= 64;
        var pub = PublicKeyOf(secret);
        var pair = new OnionClientKeyPair(Base32.Encode(pub), Base32.Encode(secret));
        CryptographicOperations.ZeroMemory(secret);
        return pair;
    }

    public static byte[] PublicKeyOf(byte[] secret)
    {
        var pub = new byte[X25519.PointSize];
        X25519.GeneratePublicKey(secret, 0, pub, 0);
        return pub;
    }

    public static string ServiceLine(string publicKey) => ServicePrefix + publicKey;

    /// <summary>A 52-character base32 x25519 key, uppercased; null when it is not one.</summary>
    public static string? NormalizeKey(string text)
    {
        var key = text.Trim().ToUpperInvariant();
        return key.Length == 52 && Base32.TryDecode(key) is { Length: 32 } ? key : null;
    }

    /// <summary>Parses a service-side <c>.auth</c> file's content (<c>descriptor:x25519:KEY</c>); null with a reason when it is not one.</summary>
    public static string? ParseServiceLine(string content, out string error)
    {
        var line = content.Trim();
        if (!line.StartsWith(ServicePrefix, StringComparison.Ordinal))
        {
            error = $"does not start with '{ServicePrefix}'";
            return null;
        }
        if (NormalizeKey(line[ServicePrefix.Length..]) is not { } key)
        {
            error = "the key after descriptor:x25519: is not 52 base32 characters";
            return null;
        }
        error = "";
        return key;
    }
}
