using System.Security.Cryptography;
using System.Text;

namespace Bastion.Fleet;

/// <summary>What checking an SSHSIG against a message and a namespace found (before any allowed_signers lookup).</summary>
public enum SshSignatureCheck
{
    Valid,
    /// <summary>Not an SSHSIG (armor, base64, structure, trailing data).</summary>
    Malformed,
    /// <summary>A version newer than 1.</summary>
    UnsupportedVersion,
    /// <summary>Signed for another namespace (another tool's signature replayed here).</summary>
    WrongNamespace,
    /// <summary>A hash other than sha256 or sha512.</summary>
    UnsupportedHash,
    /// <summary>A key type Bastion does not verify (ssh-dss, security keys).</summary>
    UnsupportedKey,
    /// <summary>Signed with an OpenSSH certificate whose CA signature does not verify.</summary>
    BadCertificate,
    /// <summary>The signature does not match the message and key (altered data, other key, rsa-sha1).</summary>
    BadSignature,
}

/// <summary>
/// An SSHSIG signature: the format of <c>ssh-keygen -Y sign</c> (OpenSSH PROTOCOL.sshsig). The signed data is
/// <c>"SSHSIG" || string namespace || string reserved || string hash_algorithm || string H(message)</c>; the blob is
/// <c>"SSHSIG" || uint32 1 || string publickey || string namespace || string reserved || string hash_algorithm ||
/// string signature</c>.
/// </summary>
public sealed class SshSignature
{
    public const string FleetNamespace = "bastion-fleet@v1";
    private const string BeginArmor = "-----BEGIN SSH SIGNATURE-----";
    private const string EndArmor = "-----END SSH SIGNATURE-----";

    /// <summary>Hard bound on what is parsed: an RSA-16384 signature is under 5 KiB.</summary>
    public const int MaxBlobSize = 16 * 1024;

    private readonly byte[] _blob;
    private readonly ReadOnlyMemory<byte> _signature;

    private SshSignature(byte[] blob, SshPublicKey key, string ns, string hashAlgorithm, ReadOnlyMemory<byte> signature, uint version)
    {
        _blob = blob;
        PublicKey = key;
        Namespace = ns;
        HashAlgorithm = hashAlgorithm;
        _signature = signature;
        Version = version;
    }

    public SshPublicKey PublicKey { get; }

    public string Namespace { get; }

    public string HashAlgorithm { get; }

    public uint Version { get; }

    public ReadOnlySpan<byte> Blob => _blob;

    /// <summary>Parses a binary SSHSIG blob; null when it is not one.</summary>
    public static SshSignature? TryParse(ReadOnlyMemory<byte> blob)
    {
        if (blob.Length > MaxBlobSize)
        {
            return null;
        }
        try
        {
            var copy = blob.ToArray();
            var reader = new SshReader(copy);
            if (!reader.ReadRaw(6).SequenceEqual("SSHSIG"u8))
            {
                return null;
            }
            var version = reader.ReadUInt32();
            var key = SshPublicKey.Parse(reader.ReadString());
            var ns = reader.ReadText();
            reader.ReadString(); // reserved
            var hash = reader.ReadText();
            var signature = reader.ReadString();
            reader.ExpectEnd();
            return new SshSignature(copy, key, ns, hash, signature, version);
        }
        catch (SshFormatException)
        {
            return null;
        }
    }

    /// <summary>Parses the armored form (<c>-----BEGIN SSH SIGNATURE-----</c>); null when it is not one.</summary>
    public static SshSignature? TryParseArmored(string text)
    {
        var begin = text.IndexOf(BeginArmor, StringComparison.Ordinal);
        if (begin < 0 || text.Length > MaxBlobSize * 2)
        {
            return null;
        }
        var start = begin + BeginArmor.Length;
        var end = text.IndexOf(EndArmor, start, StringComparison.Ordinal);
        if (end < 0 || !string.IsNullOrWhiteSpace(text[..begin]))
        {
            return null;
        }
        var base64 = new StringBuilder(end - start);
        foreach (var c in text.AsSpan(start, end - start))
        {
            if (!char.IsWhiteSpace(c))
            {
                base64.Append(c);
            }
        }
        try
        {
            return TryParse(Convert.FromBase64String(base64.ToString()));
        }
        catch (FormatException)
        {
            return null;
        }
    }

    /// <summary>The armored form, byte for byte as <c>ssh-keygen -Y sign</c> writes it (base64 wrapped at 70).</summary>
    public string ToArmored()
    {
        var base64 = Convert.ToBase64String(_blob);
        var text = new StringBuilder(BeginArmor).Append('\n');
        for (var i = 0; i < base64.Length; i += 70)
        {
            text.Append(base64, i, Math.Min(70, base64.Length - i)).Append('\n');
        }
        return text.Append(EndArmor).Append('\n').ToString();
    }

    /// <summary>Checks the signature over <paramref name="message"/> for <paramref name="expectedNamespace"/>, as <c>sshsig_verifyb</c> does.</summary>
    public SshSignatureCheck Check(ReadOnlySpan<byte> message, string expectedNamespace)
    {
        if (Version != 1)
        {
            return SshSignatureCheck.UnsupportedVersion;
        }
        if (Namespace != expectedNamespace)
        {
            return SshSignatureCheck.WrongNamespace;
        }
        if (HashAlgorithm is not ("sha256" or "sha512"))
        {
            return SshSignatureCheck.UnsupportedHash;
        }
        switch (PublicKey.Kind)
        {
            case SshKeyKind.Certificate when !PublicKey.Certificate!.SignedByCa:
                return SshSignatureCheck.BadCertificate;
            case SshKeyKind.Unsupported:
                return SshSignatureCheck.UnsupportedKey;
        }
        var signedData = SignedData(expectedNamespace, HashAlgorithm, message);
        return PublicKey.Verify(signedData, _signature) ? SshSignatureCheck.Valid : SshSignatureCheck.BadSignature;
    }

    /// <summary>Signs <paramref name="message"/> with an Ed25519 key: the blob <c>ssh-keygen -Y sign</c> would make.</summary>
    public static SshSignature Sign(Ed25519PrivateKey key, ReadOnlySpan<byte> message, string ns = FleetNamespace, string hashAlgorithm = "sha512")
    {
        ArgumentNullException.ThrowIfNull(key);
        RequireHashAlgorithm(hashAlgorithm);
        var signedData = SignedData(ns, hashAlgorithm, message);
        var signature = new SshWriter().WriteText(SshPublicKey.Ed25519Type).WriteString(key.Sign(signedData)).ToArray();
        return TryParse(BlobOf(key.PublicKey.Blob, ns, hashAlgorithm, signature)) ?? throw new InvalidOperationException("a freshly made signature did not parse");
    }

    /// <summary>
    /// Signs <paramref name="message"/> with a key held elsewhere (ssh-agent): <paramref name="sign"/> gets the SSHSIG
    /// "signed data" and returns the SSH signature blob (<c>string algorithm || string signature</c>), as the agent's
    /// SSH_AGENT_SIGN_RESPONSE carries it. The result is checked before it is returned, so a wrong or lying signer is an
    /// exception here rather than a command every node refuses.
    /// </summary>
    public static SshSignature SignWith(SshPublicKey key, Func<byte[], byte[]> sign, ReadOnlySpan<byte> message, string ns = FleetNamespace, string hashAlgorithm = "sha512")
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(sign);
        RequireHashAlgorithm(hashAlgorithm);
        var signature = sign(SignedData(ns, hashAlgorithm, message));
        var made = TryParse(BlobOf(key.Blob, ns, hashAlgorithm, signature));
        var check = made?.Check(message, ns) ?? SshSignatureCheck.Malformed;
        return check == SshSignatureCheck.Valid ? made! : throw new SshFormatException($"the signer's signature does not verify ({check})");
    }

    private static void RequireHashAlgorithm(string hashAlgorithm)
    {
        if (hashAlgorithm is not ("sha256" or "sha512"))
        {
            throw new ArgumentException("SSHSIG allows sha256 and sha512", nameof(hashAlgorithm));
        }
    }

    /// <summary>The version 1 blob that <see cref="TryParse"/> reads: what both ways of signing write.</summary>
    private static byte[] BlobOf(ReadOnlySpan<byte> publicKey, string ns, string hashAlgorithm, ReadOnlySpan<byte> signature) =>
        new SshWriter()
            .WriteRaw("SSHSIG"u8)
            .WriteUInt32(1)
            .WriteString(publicKey)
            .WriteText(ns)
            .WriteString([])
            .WriteText(hashAlgorithm)
            .WriteString(signature)
            .ToArray();

    private static byte[] SignedData(string ns, string hashAlgorithm, ReadOnlySpan<byte> message)
    {
        var hash = hashAlgorithm == "sha256" ? SHA256.HashData(message) : SHA512.HashData(message);
        return new SshWriter()
            .WriteRaw("SSHSIG"u8)
            .WriteText(ns)
            .WriteString([])
            .WriteText(hashAlgorithm)
            .WriteString(hash)
            .ToArray();
    }
}
