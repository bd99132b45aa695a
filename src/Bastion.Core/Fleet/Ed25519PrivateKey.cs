using System.Security.Cryptography;
using System.Text;
using Org.BouncyCastle.Math.EC.Rfc8032;

namespace Bastion.Fleet;

/// <summary>Why an OpenSSH private key file could not be used. The message never contains key material.</summary>
public sealed class PrivateKeyException(string message) : Exception(message);

/// <summary>
/// An Ed25519 private key (the 32-byte seed) read from or written as an unencrypted OpenSSH private key file
/// (<c>openssh-key-v1</c>, OpenSSH PROTOCOL.key), so the same file works with <c>ssh-keygen -y</c> and <c>-Y sign</c>.
/// </summary>
public sealed class Ed25519PrivateKey : IDisposable
{
    private const string Begin = "-----BEGIN OPENSSH PRIVATE KEY-----";
    private const string End = "-----END OPENSSH PRIVATE KEY-----";
    private readonly byte[] _seed;

    private Ed25519PrivateKey(byte[] seed)
    {
        _seed = seed;
        var pub = new byte[Ed25519.PublicKeySize];
        Ed25519.GeneratePublicKey(_seed, 0, pub, 0);
        PublicKey = SshPublicKey.FromEd25519(pub);
    }

    public SshPublicKey PublicKey { get; }

    /// <summary>The seed, for deriving the X25519 key; callers must not keep or log it.</summary>
    internal ReadOnlySpan<byte> Seed => _seed;

    public static Ed25519PrivateKey Generate() => new(RandomNumberGenerator.GetBytes(Ed25519.SecretKeySize));

    public static Ed25519PrivateKey FromSeed(ReadOnlySpan<byte> seed) => seed.Length == Ed25519.SecretKeySize
        ? new(seed.ToArray())
        : throw new ArgumentException("an Ed25519 seed is 32 bytes", nameof(seed));

    public byte[] Sign(ReadOnlySpan<byte> data)
    {
        var signature = new byte[Ed25519.SignatureSize];
        Ed25519.Sign(_seed, 0, data.ToArray(), 0, data.Length, signature, 0);
        return signature;
    }

    /// <summary>Reads an OpenSSH private key file's text. Throws <see cref="PrivateKeyException"/> with a reason and the fix.</summary>
    public static Ed25519PrivateKey ParseOpenSsh(string text)
    {
        var begin = text.IndexOf(Begin, StringComparison.Ordinal);
        var end = text.IndexOf(End, StringComparison.Ordinal);
        if (begin < 0 || end < begin)
        {
            throw new PrivateKeyException("not an OpenSSH private key (expected -----BEGIN OPENSSH PRIVATE KEY-----; convert with `ssh-keygen -p -f FILE`)");
        }
        byte[] blob;
        try
        {
            blob = Convert.FromBase64String(string.Concat(text[(begin + Begin.Length)..end].Where(c => !char.IsWhiteSpace(c))));
        }
        catch (FormatException)
        {
            throw new PrivateKeyException("the OpenSSH private key is not valid base64");
        }
        try
        {
            var reader = new SshReader(blob);
            if (!reader.ReadRaw(15).SequenceEqual("openssh-key-v1\0"u8))
            {
                throw new PrivateKeyException("not an openssh-key-v1 private key");
            }
            var cipher = reader.ReadText();
            var kdf = reader.ReadText();
            reader.ReadString(); // kdf options
            if (cipher != "none" || kdf != "none")
            {
                throw new PrivateKeyException(
                    "the private key is encrypted with a passphrase; Bastion does not ask for passphrases: " +
                    "use the key through ssh-agent, or remove the passphrase from a copy with `ssh-keygen -p -f COPY`");
            }
            if (reader.ReadUInt32() != 1)
            {
                throw new PrivateKeyException("the file holds more than one key; use a file with one ssh-ed25519 key");
            }
            var publicBlob = SshPublicKey.Parse(reader.ReadString());
            if (publicBlob.Kind != SshKeyKind.Ed25519)
            {
                throw new PrivateKeyException($"the key is {publicBlob.Type}; Bastion signs with ssh-ed25519 keys only (`ssh-keygen -t ed25519`)");
            }
            var section = new SshReader(reader.ReadString());
            reader.ExpectEnd();
            if (section.ReadUInt32() != section.ReadUInt32())
            {
                throw new PrivateKeyException("the private key is corrupt (check values differ)");
            }
            if (section.ReadText() != SshPublicKey.Ed25519Type)
            {
                throw new PrivateKeyException("the private key type does not match its public key");
            }
            var pub = section.ReadString().Span;
            var secret = section.ReadString().Span;
            if (secret.Length != 64 || !secret[32..].SequenceEqual(pub) || !pub.SequenceEqual(publicBlob.Ed25519Key))
            {
                throw new PrivateKeyException("the private key is corrupt (its parts do not match)");
            }
            var key = new Ed25519PrivateKey(secret[..32].ToArray());
            if (!key.PublicKey.Equals(publicBlob))
            {
                key.Dispose();
                throw new PrivateKeyException("the private key is corrupt (it does not derive its public key)");
            }
            return key;
        }
        catch (SshFormatException)
        {
            throw new PrivateKeyException("the OpenSSH private key is truncated or malformed");
        }
    }

    /// <summary>The unencrypted openssh-key-v1 file text (what <c>ssh-keygen -t ed25519 -N ''</c> writes).</summary>
    public string ToOpenSsh(string comment)
    {
        var check = RandomNumberGenerator.GetBytes(4);
        var section = new SshWriter()
            .WriteRaw(check).WriteRaw(check)
            .WriteText(SshPublicKey.Ed25519Type)
            .WriteString(PublicKey.Ed25519Key)
            .WriteString([.. _seed, .. PublicKey.Ed25519Key])
            .WriteText(comment);
        var length = section.ToArray().Length;
        for (byte pad = 1; (length + pad - 1) % 8 != 0; pad++)
        {
            section.WriteRaw([pad]);
        }
        var blob = new SshWriter()
            .WriteRaw("openssh-key-v1\0"u8)
            .WriteText("none").WriteText("none").WriteString([])
            .WriteUInt32(1)
            .WriteString(PublicKey.Blob)
            .WriteString(section.ToArray())
            .ToArray();
        var base64 = Convert.ToBase64String(blob);
        var text = new StringBuilder(Begin).Append('\n');
        for (var i = 0; i < base64.Length; i += 70)
        {
            text.Append(base64, i, Math.Min(70, base64.Length - i)).Append('\n');
        }
        CryptographicOperations.ZeroMemory(blob);
        return text.Append(End).Append('\n').ToString();
    }

    public void Dispose() => CryptographicOperations.ZeroMemory(_seed);
}
