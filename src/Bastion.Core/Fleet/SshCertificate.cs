namespace Bastion.Fleet;

/// <summary>
/// An OpenSSH certificate (PROTOCOL.certkeys) for ssh-ed25519, ECDSA or RSA keys: the certified key, its principals and
/// validity, and the CA key. <see cref="SignedByCa"/> says whether the CA's signature over the certificate verifies
/// (OpenSSH refuses to parse one that does not).
/// </summary>
public sealed class SshCertificate
{
    public const uint UserCertificate = 1;

    private SshCertificate(SshPublicKey key, uint type, string keyId, IReadOnlyList<string> principals, ulong validAfter, ulong validBefore, SshPublicKey ca, bool signedByCa)
    {
        Key = key;
        Type = type;
        KeyId = keyId;
        Principals = principals;
        ValidAfter = validAfter;
        ValidBefore = validBefore;
        SignatureKey = ca;
        SignedByCa = signedByCa;
    }

    /// <summary>The certified (plain) key: the one that makes signatures.</summary>
    public SshPublicKey Key { get; }

    /// <summary>1 = user, 2 = host.</summary>
    public uint Type { get; }

    public string KeyId { get; }

    public IReadOnlyList<string> Principals { get; }

    /// <summary>Seconds since the epoch, as on the wire (0 and ulong.MaxValue mean unbounded).</summary>
    public ulong ValidAfter { get; }

    public ulong ValidBefore { get; }

    /// <summary>The CA's public key.</summary>
    public SshPublicKey SignatureKey { get; }

    public bool SignedByCa { get; }

    /// <summary>The certificate types Bastion reads, with the plain key type each certifies.</summary>
    internal static string? PlainType(string certType) => certType switch
    {
        "ssh-ed25519-cert-v01@openssh.com" => "ssh-ed25519",
        "ecdsa-sha2-nistp256-cert-v01@openssh.com" => "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384-cert-v01@openssh.com" => "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521-cert-v01@openssh.com" => "ecdsa-sha2-nistp521",
        "ssh-rsa-cert-v01@openssh.com" => "ssh-rsa",
        _ => null,
    };

    /// <summary>Parses a certificate blob of a type <see cref="PlainType"/> knows; throws <see cref="SshFormatException"/>.</summary>
    internal static SshCertificate Parse(ReadOnlyMemory<byte> blob)
    {
        var reader = new SshReader(blob);
        var plainType = PlainType(reader.ReadText()) ?? throw new SshFormatException("not a supported certificate type");
        reader.ReadString(); // nonce
        var plain = new SshWriter().WriteText(plainType);
        switch (plainType)
        {
            case "ssh-ed25519":
                plain.WriteString(reader.ReadString().Span);
                break;
            default:
                // ECDSA: curve name then point; ssh-rsa: e then n, as mpints. Both copied as strings, byte for byte.
                plain.WriteString(reader.ReadString().Span).WriteString(reader.ReadString().Span);
                break;
        }
        var key = SshPublicKey.Parse(plain.ToArray());
        reader.ReadUInt64(); // serial
        var type = reader.ReadUInt32();
        var keyId = reader.ReadText();
        var principalReader = new SshReader(reader.ReadString());
        var principals = new List<string>();
        while (!principalReader.AtEnd)
        {
            principals.Add(principalReader.ReadText());
        }
        var validAfter = reader.ReadUInt64();
        var validBefore = reader.ReadUInt64();
        reader.ReadString(); // critical options
        reader.ReadString(); // extensions
        reader.ReadString(); // reserved
        var ca = SshPublicKey.Parse(reader.ReadString());
        var signedLength = blob.Length - reader.Remaining;
        var signature = reader.ReadString();
        reader.ExpectEnd();
        var signedByCa = ca.Kind is not (SshKeyKind.Certificate or SshKeyKind.Unsupported)
            && ca.Verify(blob.Span[..signedLength], signature);
        return new SshCertificate(key, type, keyId, principals, validAfter, validBefore, ca, signedByCa);
    }
}
