using System.Security.Cryptography;
using System.Text;
using Org.BouncyCastle.Math.EC.Rfc7748;

namespace Bastion.Fleet;

/// <summary>What opening the encryption layer of an envelope found.</summary>
public enum EnvelopeOutcome
{
    Opened,
    /// <summary>Not an envelope of this version, or out of bounds (size, recipient count).</summary>
    Malformed,
    /// <summary>No recipient stanza opens with this key: encrypted to someone else (or that stanza was altered).</summary>
    NotRecipient,
    /// <summary>The payload or the header was altered: the AEAD tag does not match.</summary>
    Tampered,
}

/// <summary>
/// The encryption layer of fleet messages (docs/fleet-envelope.md): a random 32-byte file key encrypts the payload with
/// ChaCha20-Poly1305 (the whole header as associated data); the file key is wrapped once per recipient with an
/// ephemeral X25519 key, HKDF-SHA256 and ChaCha20-Poly1305, as age does. The broker sees sizes, never contents.
/// </summary>
public static class FleetEnvelope
{
    public const string Version = "bastion-fleet-envelope@v1";
    public const int MaxRecipients = 256;
    public const int MaxSize = 1024 * 1024;
    private const int KeySize = 32;
    private const int TagSize = 16;
    private static readonly byte[] WrapInfo = Encoding.ASCII.GetBytes("bastion-fleet@v1 wrap");
    private static readonly byte[] PayloadInfo = Encoding.ASCII.GetBytes("bastion-fleet@v1 payload");

    /// <summary>Encrypts <paramref name="plaintext"/> to every X25519 public key in <paramref name="recipients"/>.</summary>
    public static byte[] Seal(ReadOnlySpan<byte> plaintext, IReadOnlyList<byte[]> recipients) =>
        Seal(plaintext, recipients, RandomNumberGenerator.Fill);

    /// <summary>
    /// As <see cref="Seal(ReadOnlySpan{byte}, IReadOnlyList{byte[]})"/>, with the randomness given: first the file key
    /// (32 bytes), then one ephemeral X25519 secret (32 bytes) per recipient in order. Only test vectors pass their own.
    /// </summary>
    internal static byte[] Seal(ReadOnlySpan<byte> plaintext, IReadOnlyList<byte[]> recipients, SpanAction random)
    {
        ArgumentNullException.ThrowIfNull(recipients);
        if (recipients.Count is 0 or > MaxRecipients)
        {
            throw new ArgumentException($"an envelope has 1 to {MaxRecipients} recipients", nameof(recipients));
        }
        var fileKey = new byte[KeySize];
        random(fileKey);
        var header = new SshWriter().WriteText(Version).WriteUInt32((uint)recipients.Count);
        var ephemeral = new byte[KeySize];
        foreach (var recipient in recipients)
        {
            random(ephemeral);
            var ephemeralPublic = FleetKeys.X25519PublicOf(ephemeral);
            var wrapKey = WrapKey(ephemeral, recipient, ephemeralPublic, recipient)
                ?? throw new ArgumentException("a recipient key is a low-order point", nameof(recipients));
            var wrapped = new byte[KeySize + TagSize];
            using (var aead = new ChaCha20Poly1305(wrapKey))
            {
                aead.Encrypt(new byte[12], fileKey, wrapped.AsSpan(0, KeySize), wrapped.AsSpan(KeySize));
            }
            CryptographicOperations.ZeroMemory(wrapKey);
            header.WriteString(ephemeralPublic).WriteString(wrapped);
        }
        CryptographicOperations.ZeroMemory(ephemeral);
        var headerBytes = header.ToArray();
        var sealedPayload = new byte[plaintext.Length + TagSize];
        var payloadKey = PayloadKey(fileKey);
        using (var aead = new ChaCha20Poly1305(payloadKey))
        {
            aead.Encrypt(new byte[12], plaintext, sealedPayload.AsSpan(0, plaintext.Length), sealedPayload.AsSpan(plaintext.Length), headerBytes);
        }
        CryptographicOperations.ZeroMemory(payloadKey);
        CryptographicOperations.ZeroMemory(fileKey);
        return new SshWriter().WriteRaw(headerBytes).WriteString(sealedPayload).ToArray();
    }

    /// <summary>Opens an envelope with this X25519 secret; the plaintext only when the outcome is Opened.</summary>
    public static EnvelopeOutcome Open(ReadOnlySpan<byte> envelope, ReadOnlySpan<byte> x25519Secret, out byte[] plaintext)
    {
        plaintext = [];
        if (envelope.Length > MaxSize)
        {
            return EnvelopeOutcome.Malformed;
        }
        var copy = envelope.ToArray();
        var reader = new SshReader(copy);
        var stanzas = new List<(ReadOnlyMemory<byte> Ephemeral, ReadOnlyMemory<byte> Wrapped)>();
        int headerLength;
        ReadOnlyMemory<byte> sealedPayload;
        try
        {
            if (reader.ReadText() != Version)
            {
                return EnvelopeOutcome.Malformed;
            }
            var count = reader.ReadUInt32();
            if (count is 0 or > MaxRecipients)
            {
                return EnvelopeOutcome.Malformed;
            }
            for (var i = 0; i < count; i++)
            {
                var e = reader.ReadString();
                var w = reader.ReadString();
                if (e.Length != KeySize || w.Length != KeySize + TagSize)
                {
                    return EnvelopeOutcome.Malformed;
                }
                stanzas.Add((e, w));
            }
            headerLength = copy.Length - reader.Remaining;
            sealedPayload = reader.ReadString();
            reader.ExpectEnd();
            if (sealedPayload.Length < TagSize)
            {
                return EnvelopeOutcome.Malformed;
            }
        }
        catch (SshFormatException)
        {
            return EnvelopeOutcome.Malformed;
        }

        var ownPublic = FleetKeys.X25519PublicOf(x25519Secret);
        var fileKey = new byte[KeySize];
        var found = false;
        foreach (var (e, w) in stanzas)
        {
            var wrapKey = WrapKey(x25519Secret, e.Span, e.Span, ownPublic);
            if (wrapKey is null)
            {
                continue;
            }
            using var aead = new ChaCha20Poly1305(wrapKey);
            try
            {
                aead.Decrypt(new byte[12], w.Span[..KeySize], w.Span[KeySize..], fileKey);
                found = true;
                break;
            }
            catch (AuthenticationTagMismatchException)
            {
            }
            finally
            {
                CryptographicOperations.ZeroMemory(wrapKey);
            }
        }
        if (!found)
        {
            return EnvelopeOutcome.NotRecipient;
        }
        var payloadKey = PayloadKey(fileKey);
        CryptographicOperations.ZeroMemory(fileKey);
        var body = sealedPayload.Span;
        var result = new byte[body.Length - TagSize];
        try
        {
            using var aead = new ChaCha20Poly1305(payloadKey);
            aead.Decrypt(new byte[12], body[..^TagSize], body[^TagSize..], result, copy.AsSpan(0, headerLength));
        }
        catch (AuthenticationTagMismatchException)
        {
            return EnvelopeOutcome.Tampered;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(payloadKey);
        }
        plaintext = result;
        return EnvelopeOutcome.Opened;
    }

    /// <summary>HKDF-SHA256(ikm = X25519(secret, peer), salt = ephemeral public || recipient public, info = "bastion-fleet@v1 wrap"); null for a low-order point.</summary>
    /// <remarks>The sender passes its ephemeral secret and the recipient's key as peer; the recipient its secret and the ephemeral key.</remarks>
    private static byte[]? WrapKey(ReadOnlySpan<byte> secret, ReadOnlySpan<byte> peer, ReadOnlySpan<byte> ephemeralPublic, ReadOnlySpan<byte> recipientPublic)
    {
        var shared = new byte[X25519.PointSize];
        if (!X25519.CalculateAgreement(secret.ToArray(), 0, peer.ToArray(), 0, shared, 0))
        {
            return null;
        }
        var key = HKDF.DeriveKey(HashAlgorithmName.SHA256, shared, KeySize, [.. ephemeralPublic, .. recipientPublic], WrapInfo);
        CryptographicOperations.ZeroMemory(shared);
        return key;
    }

    /// <summary>HKDF-SHA256(ikm = file key, no salt, info = "bastion-fleet@v1 payload").</summary>
    private static byte[] PayloadKey(ReadOnlySpan<byte> fileKey) =>
        HKDF.DeriveKey(HashAlgorithmName.SHA256, fileKey.ToArray(), KeySize, [], PayloadInfo);
}

/// <summary>Fills a span (the randomness of <see cref="FleetEnvelope"/>).</summary>
internal delegate void SpanAction(Span<byte> destination);
