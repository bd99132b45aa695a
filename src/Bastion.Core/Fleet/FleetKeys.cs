using System.Numerics;
using System.Security.Cryptography;
using Org.BouncyCastle.Math.EC.Rfc7748;

namespace Bastion.Fleet;

/// <summary>
/// The X25519 keys that encrypt fleet envelopes, derived from the ssh-ed25519 keys admins and nodes already have
/// (the birational map RFC 7748 §4.1 names, as age and libsodium's crypto_sign_ed25519_pk_to_curve25519 use it):
/// public u = (1 + y) / (1 − y) mod 2^255 − 19; private = the first 32 bytes of SHA-512(seed), clamped.
/// </summary>
public static class FleetKeys
{
    private static readonly BigInteger P = BigInteger.Pow(2, 255) - 19;

    /// <summary>The X25519 public key of an ssh-ed25519 public key.</summary>
    public static byte[] X25519Public(SshPublicKey key)
    {
        ArgumentNullException.ThrowIfNull(key);
        var encoded = key.Ed25519Key.ToArray();
        encoded[31] &= 0x7f; // the top bit is the sign of x, not part of y
        var y = new BigInteger(encoded, isUnsigned: true, isBigEndian: false);
        var denominator = Mod(1 - y);
        if (y >= P || denominator.IsZero)
        {
            throw new ArgumentException("not a usable Ed25519 public key", nameof(key));
        }
        var u = Mod((1 + y) * BigInteger.ModPow(denominator, P - 2, P));
        var result = new byte[X25519.PointSize];
        u.TryWriteBytes(result, out _, isUnsigned: true, isBigEndian: false);
        return result;
    }

    /// <summary>The X25519 private scalar of an Ed25519 private key (clamped).</summary>
    public static byte[] X25519Private(Ed25519PrivateKey key)
    {
        ArgumentNullException.ThrowIfNull(key);
        var hash = SHA512.HashData(key.Seed);
        var scalar = hash[..32];
        CryptographicOperations.ZeroMemory(hash);
        scalar[0] &= 248;
        scalar[31] &= 127;
        scalar[31] |= 64;
        return scalar;
    }

    public static byte[] X25519PublicOf(ReadOnlySpan<byte> secret)
    {
        var pub = new byte[X25519.PointSize];
        X25519.ScalarMultBase(secret.ToArray(), 0, pub, 0);
        return pub;
    }

    private static BigInteger Mod(BigInteger value)
    {
        var r = value % P;
        return r.Sign < 0 ? r + P : r;
    }
}
