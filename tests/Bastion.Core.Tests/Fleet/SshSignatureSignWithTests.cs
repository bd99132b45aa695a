using System.Text;
using Bastion.Fleet;

namespace Bastion.Tests.Fleet;

/// <summary>
/// <see cref="SshSignature.SignWith"/> (signing through a key held elsewhere, as ssh-agent holds it) and
/// <see cref="OpenSshKeyFile.ReadHeader"/> (what bastionctl learns from a key file without its passphrase).
/// </summary>
public sealed class SshSignatureSignWithTests
{
    private static readonly byte[] Message = Encoding.UTF8.GetBytes("bastion-fleet-command@v1 …");

    [Fact]
    public void A_signature_made_by_an_outside_signer_is_byte_for_byte_the_one_made_with_the_key_itself()
    {
        using var key = Ed25519PrivateKey.FromSeed(Enumerable.Repeat((byte)7, 32).ToArray());
        // What an agent's SSH_AGENT_SIGN_RESPONSE carries: string "ssh-ed25519" || string signature.
        byte[] Agent(byte[] data)
        {
            var signature = key.Sign(data);
            var type = Encoding.ASCII.GetBytes(SshPublicKey.Ed25519Type);
            return [.. BigEndian(type.Length), .. type, .. BigEndian(signature.Length), .. signature];
        }

        var outside = SshSignature.SignWith(key.PublicKey, Agent, Message);

        Assert.Equal(SshSignature.Sign(key, Message).Blob.ToArray(), outside.Blob.ToArray());
        Assert.Equal(SshSignatureCheck.Valid, outside.Check(Message, SshSignature.FleetNamespace));
    }

    [Fact]
    public void A_signer_that_signs_with_another_key_or_returns_garbage_is_an_error_not_a_signature()
    {
        using var key = Ed25519PrivateKey.Generate();
        using var other = Ed25519PrivateKey.Generate();
        byte[] WrongKey(byte[] data)
        {
            var signature = other.Sign(data);
            var type = Encoding.ASCII.GetBytes(SshPublicKey.Ed25519Type);
            return [.. BigEndian(type.Length), .. type, .. BigEndian(signature.Length), .. signature];
        }

        Assert.Throws<SshFormatException>(() => SshSignature.SignWith(key.PublicKey, WrongKey, Message));
        Assert.Throws<SshFormatException>(() => SshSignature.SignWith(key.PublicKey, _ => [1, 2, 3], Message));
    }

    [Fact]
    public void The_header_of_an_unencrypted_key_file_gives_its_public_key_and_says_it_is_not_encrypted()
    {
        using var key = Ed25519PrivateKey.Generate();

        var header = OpenSshKeyFile.ReadHeader(key.ToOpenSsh("alice"));

        Assert.NotNull(header);
        Assert.Equal(key.PublicKey, header.Value.PublicKey);
        Assert.False(header.Value.Encrypted);
        Assert.Null(OpenSshKeyFile.ReadHeader("ssh-ed25519 AAAA not a private key"));
        Assert.Null(OpenSshKeyFile.ReadHeader("-----BEGIN OPENSSH PRIVATE KEY-----\n!!!\n-----END OPENSSH PRIVATE KEY-----\n"));
    }

    [Fact]
    public void The_header_of_a_passphrase_protected_key_file_made_by_ssh_keygen_gives_its_public_key_and_says_it_is_encrypted()
    {
        using var keygen = new SshKeygen();
        keygen.Generate("p", "ed25519", passphrase: "secret words");
        var path = keygen.File("p");

        var header = OpenSshKeyFile.ReadHeader(File.ReadAllText(path));

        Assert.NotNull(header);
        Assert.True(header.Value.Encrypted);
        Assert.Equal(SshPublicKey.ParseText(File.ReadAllText(path + ".pub")), header.Value.PublicKey);
    }

    private static byte[] BigEndian(int value) => [(byte)(value >> 24), (byte)(value >> 16), (byte)(value >> 8), (byte)value];
}
