using System.Security.Cryptography;
using Org.BouncyCastle.Math.EC.Rfc8032;

namespace Bastion.Fleet;

/// <summary>The key algorithms Bastion can verify (the plain ones) or recognise (certificates).</summary>
public enum SshKeyKind
{
    Ed25519,
    EcdsaP256,
    EcdsaP384,
    EcdsaP521,
    Rsa,
    /// <summary>An OpenSSH certificate of an ssh-ed25519, ECDSA or RSA key (*-cert-v01@openssh.com).</summary>
    Certificate,
    /// <summary>A type Bastion does not verify (ssh-dss, security keys, ...): parsed, never accepted.</summary>
    Unsupported,
}

/// <summary>
/// An SSH public key as its wire blob (RFC 4253 §6.6, RFC 5656 §3.1, RFC 8709): the blob is the identity (two keys
/// are equal when their blobs are equal, as OpenSSH's sshkey_equal for plain keys), the fingerprint is what
/// <c>ssh-keygen -l</c> prints.
/// </summary>
public sealed class SshPublicKey : IEquatable<SshPublicKey>
{
    public const string Ed25519Type = "ssh-ed25519";

    private readonly byte[] _blob;

    private SshPublicKey(string type, byte[] blob, SshKeyKind kind)
    {
        Type = type;
        _blob = blob;
        Kind = kind;
    }

    /// <summary>The key type name, e.g. <c>ssh-ed25519</c>.</summary>
    public string Type { get; }

    public SshKeyKind Kind { get; }

    /// <summary>The certificate, for <see cref="SshKeyKind.Certificate"/>.</summary>
    public SshCertificate? Certificate { get; private init; }

    public ReadOnlySpan<byte> Blob => _blob;

    /// <summary>The raw 32-byte public key of an ssh-ed25519 key.</summary>
    public ReadOnlySpan<byte> Ed25519Key => Kind == SshKeyKind.Ed25519
        ? _blob.AsSpan(_blob.Length - 32)
        : throw new InvalidOperationException("not an ssh-ed25519 key");

    /// <summary><c>SHA256:</c> and unpadded base64, as <c>ssh-keygen -l</c> prints.</summary>
    public string Fingerprint => Certificate?.Key.Fingerprint ?? "SHA256:" + Convert.ToBase64String(SHA256.HashData(_blob)).TrimEnd('=');

    /// <summary>The one-line public key format (<c>TYPE BASE64</c>) of authorized_keys and .pub files.</summary>
    public override string ToString() => Type + " " + Convert.ToBase64String(_blob);

    public static SshPublicKey FromEd25519(ReadOnlySpan<byte> key)
    {
        if (key.Length != 32)
        {
            throw new ArgumentException("an Ed25519 public key is 32 bytes", nameof(key));
        }
        return Parse(new SshWriter().WriteText(Ed25519Type).WriteString(key).ToArray());
    }

    /// <summary>Parses a wire blob; throws <see cref="SshFormatException"/> on a malformed one.</summary>
    public static SshPublicKey Parse(ReadOnlyMemory<byte> blob)
    {
        var reader = new SshReader(blob);
        var type = reader.ReadText();
        SshKeyKind kind;
        switch (type)
        {
            case Ed25519Type:
                if (reader.ReadString().Length != 32)
                {
                    throw new SshFormatException("ssh-ed25519 key is not 32 bytes");
                }
                kind = SshKeyKind.Ed25519;
                break;
            case "ecdsa-sha2-nistp256":
            case "ecdsa-sha2-nistp384":
            case "ecdsa-sha2-nistp521":
                var curve = reader.ReadText();
                if (type != "ecdsa-sha2-" + curve)
                {
                    throw new SshFormatException("ECDSA curve does not match the key type");
                }
                kind = curve switch { "nistp256" => SshKeyKind.EcdsaP256, "nistp384" => SshKeyKind.EcdsaP384, _ => SshKeyKind.EcdsaP521 };
                var point = reader.ReadString().Span;
                if (point.Length != 1 + (2 * CoordinateSize(kind)) || point[0] != 4)
                {
                    throw new SshFormatException("ECDSA point is not an uncompressed point of the curve");
                }
                break;
            case "ssh-rsa":
                reader.ReadPositiveMpint();
                // OpenSSH's bounds (SSH_RSA_MINIMUM_MODULUS_SIZE 1024, SSHBUF_MAX_BIGNUM 16384 bits): a hostile
                // signature cannot make Bastion verify with a giant modulus.
                var modulusBits = reader.ReadPositiveMpint().Length * 8;
                if (modulusBits is < 1024 or > 16384)
                {
                    throw new SshFormatException("RSA modulus outside 1024..16384 bits");
                }
                kind = SshKeyKind.Rsa;
                break;
            default:
                if (SshCertificate.PlainType(type) is not null)
                {
                    var copy = blob.ToArray();
                    return new SshPublicKey(type, copy, SshKeyKind.Certificate) { Certificate = SshCertificate.Parse(copy) };
                }
                // Another type (ssh-dss, security keys): kept whole, never verified.
                kind = SshKeyKind.Unsupported;
                reader.ReadRaw(reader.Remaining);
                break;
        }
        reader.ExpectEnd();
        return new SshPublicKey(type, blob.ToArray(), kind);
    }

    /// <summary>Parses <c>TYPE BASE64 [COMMENT]</c>; throws <see cref="SshFormatException"/>.</summary>
    public static SshPublicKey ParseText(string text)
    {
        var parts = text.Trim().Split([' ', '\t'], 3, StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length < 2)
        {
            throw new SshFormatException("expected TYPE BASE64");
        }
        byte[] blob;
        try
        {
            blob = Convert.FromBase64String(parts[1]);
        }
        catch (FormatException)
        {
            throw new SshFormatException("the key is not valid base64");
        }
        var key = Parse(blob);
        if (key.Type != parts[0])
        {
            throw new SshFormatException($"the key type {parts[0]} does not match the encoded key ({key.Type})");
        }
        return key;
    }

    /// <summary>
    /// Verifies an SSH signature blob (<c>string algorithm, string signature</c>) over <paramref name="data"/>.
    /// RSA accepts rsa-sha2-256 and rsa-sha2-512 only (as SSHSIG does: no SHA-1).
    /// </summary>
    public bool Verify(ReadOnlySpan<byte> data, ReadOnlyMemory<byte> signature)
    {
        try
        {
            var reader = new SshReader(signature);
            var algorithm = reader.ReadText();
            var sig = reader.ReadString();
            reader.ExpectEnd();
            switch (Kind)
            {
                case SshKeyKind.Ed25519:
                    return algorithm == Ed25519Type && sig.Length == Ed25519.SignatureSize
                        && Ed25519.Verify(sig.ToArray(), 0, Ed25519Key.ToArray(), 0, data.ToArray(), 0, data.Length);
                case SshKeyKind.EcdsaP256 or SshKeyKind.EcdsaP384 or SshKeyKind.EcdsaP521:
                    return algorithm == Type && VerifyEcdsa(data, sig);
                case SshKeyKind.Rsa:
                    var hash = algorithm switch
                    {
                        "rsa-sha2-256" => HashAlgorithmName.SHA256,
                        "rsa-sha2-512" => HashAlgorithmName.SHA512,
                        _ => default,
                    };
                    return hash != default && VerifyRsa(data, sig.Span, hash);
                case SshKeyKind.Certificate:
                    // The certified key signs; whether the CA vouches for it is allowed_signers' question.
                    return Certificate!.Key.Verify(data, signature);
                default:
                    return false;
            }
        }
        catch (SshFormatException)
        {
            return false;
        }
        catch (CryptographicException)
        {
            return false;
        }
    }

    private static int CoordinateSize(SshKeyKind kind) => kind switch
    {
        SshKeyKind.EcdsaP256 => 32,
        SshKeyKind.EcdsaP384 => 48,
        _ => 66,
    };

    private bool VerifyEcdsa(ReadOnlySpan<byte> data, ReadOnlyMemory<byte> sig)
    {
        var reader = new SshReader(_blob);
        reader.ReadString();
        reader.ReadString();
        var point = reader.ReadString().Span;
        var size = CoordinateSize(Kind);
        var (curve, hash) = Kind switch
        {
            SshKeyKind.EcdsaP256 => (ECCurve.NamedCurves.nistP256, HashAlgorithmName.SHA256),
            SshKeyKind.EcdsaP384 => (ECCurve.NamedCurves.nistP384, HashAlgorithmName.SHA384),
            _ => (ECCurve.NamedCurves.nistP521, HashAlgorithmName.SHA512),
        };
        var sigReader = new SshReader(sig);
        var r = sigReader.ReadPositiveMpint();
        var s = sigReader.ReadPositiveMpint();
        sigReader.ExpectEnd();
        if (r.Length > size || s.Length > size)
        {
            return false;
        }
        // IEEE P1363: r and s left-padded to the coordinate size.
        var p1363 = new byte[2 * size];
        r.CopyTo(p1363.AsSpan(size - r.Length));
        s.CopyTo(p1363.AsSpan((2 * size) - s.Length));
        using var ecdsa = ECDsa.Create(new ECParameters
        {
            Curve = curve,
            Q = new ECPoint { X = point.Slice(1, size).ToArray(), Y = point.Slice(1 + size, size).ToArray() },
        });
        return ecdsa.VerifyData(data, p1363, hash);
    }

    private bool VerifyRsa(ReadOnlySpan<byte> data, ReadOnlySpan<byte> sig, HashAlgorithmName hash)
    {
        var reader = new SshReader(_blob);
        reader.ReadString();
        var e = reader.ReadPositiveMpint().ToArray();
        var n = reader.ReadPositiveMpint().ToArray();
        if (sig.Length > n.Length)
        {
            return false;
        }
        // OpenSSH accepts a signature shorter than the modulus (leading zero bytes dropped); pad it back.
        var padded = new byte[n.Length];
        sig.CopyTo(padded.AsSpan(n.Length - sig.Length));
        using var rsa = RSA.Create(new RSAParameters { Modulus = n, Exponent = e });
        return rsa.VerifyData(data, padded, hash, RSASignaturePadding.Pkcs1);
    }

    public bool Equals(SshPublicKey? other) => other is not null && _blob.AsSpan().SequenceEqual(other._blob);

    public override bool Equals(object? obj) => Equals(obj as SshPublicKey);

    public override int GetHashCode()
    {
        var hash = new HashCode();
        hash.AddBytes(_blob);
        return hash.ToHashCode();
    }
}
