namespace Bastion.Fleet;

/// <summary>
/// What can be learned from an OpenSSH private key file without its passphrase: the openssh-key-v1 header keeps the
/// public key and the cipher in the clear (OpenSSH PROTOCOL.key), so bastionctl can find the matching key in ssh-agent
/// and tell a passphrase-protected file from a broken one.
/// </summary>
public static class OpenSshKeyFile
{
    private const string Begin = "-----BEGIN OPENSSH PRIVATE KEY-----";
    private const string End = "-----END OPENSSH PRIVATE KEY-----";

    /// <summary>The public key and whether the private part is encrypted; null when the text is not one openssh-key-v1 key.</summary>
    public static (SshPublicKey PublicKey, bool Encrypted)? ReadHeader(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var begin = text.IndexOf(Begin, StringComparison.Ordinal);
        var end = text.IndexOf(End, StringComparison.Ordinal);
        if (begin < 0 || end < begin)
        {
            return null;
        }
        try
        {
            var blob = Convert.FromBase64String(string.Concat(text[(begin + Begin.Length)..end].Where(c => !char.IsWhiteSpace(c))));
            var reader = new SshReader(blob);
            if (!reader.ReadRaw(15).SequenceEqual("openssh-key-v1\0"u8))
            {
                return null;
            }
            var cipher = reader.ReadText();
            reader.ReadText(); // kdf
            reader.ReadString(); // kdf options
            if (reader.ReadUInt32() != 1)
            {
                return null;
            }
            return (SshPublicKey.Parse(reader.ReadString()), cipher != "none");
        }
        catch (Exception e) when (e is FormatException or SshFormatException)
        {
            return null;
        }
    }
}
