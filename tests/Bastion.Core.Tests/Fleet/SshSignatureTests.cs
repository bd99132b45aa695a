using System.Text;
using Bastion.Fleet;

namespace Bastion.Tests.Fleet;

public sealed class SshSignatureTests : IDisposable
{
    private readonly SshKeygen _keygen = new();
    private static readonly byte[] Message = Encoding.UTF8.GetBytes("vnc start --for 30m\n");

    public void Dispose() => _keygen.Dispose();

    [Theory]
    [InlineData("ed25519", 0, null)]
    [InlineData("ed25519", 0, "sha256")]
    [InlineData("ecdsa", 256, null)]
    [InlineData("ecdsa", 384, null)]
    [InlineData("ecdsa", 521, "sha256")]
    [InlineData("rsa", 2048, null)]
    [InlineData("rsa", 3072, "sha256")]
    public void A_signature_made_by_ssh_keygen_verifies_in_Bastion(string type, int bits, string? hash)
    {
        var key = _keygen.Generate("admin", type, bits);
        var armored = _keygen.Sign(key, Message, SshSignature.FleetNamespace, hash);

        var signature = SshSignature.TryParseArmored(armored);

        Assert.NotNull(signature);
        Assert.Equal(SshPublicKey.ParseText(_keygen.PublicKeyText("admin")), signature.PublicKey);
        Assert.Equal(hash ?? "sha512", signature.HashAlgorithm);
        Assert.Equal(SshSignatureCheck.Valid, signature.Check(Message, SshSignature.FleetNamespace));
    }

    [Theory]
    [InlineData("ed25519", 0)]
    [InlineData("ecdsa", 256)]
    [InlineData("rsa", 2048)]
    public void One_flipped_bit_anywhere_in_the_message_is_a_bad_signature(string type, int bits)
    {
        var key = _keygen.Generate("admin", type, bits);
        var signature = SshSignature.TryParseArmored(_keygen.Sign(key, Message, SshSignature.FleetNamespace))!;
        for (var bit = 0; bit < Message.Length * 8; bit += 7)
        {
            var tampered = (byte[])Message.Clone();
            tampered[bit / 8] ^= (byte)(1 << (bit % 8));
            Assert.Equal(SshSignatureCheck.BadSignature, signature.Check(tampered, SshSignature.FleetNamespace));
        }
    }

    [Fact]
    public void A_signature_for_another_namespace_is_refused_as_such()
    {
        var key = _keygen.Generate("admin", "ed25519");
        var signature = SshSignature.TryParseArmored(_keygen.Sign(key, Message, "git"))!;

        Assert.Equal(SshSignatureCheck.WrongNamespace, signature.Check(Message, SshSignature.FleetNamespace));
    }

    [Fact]
    public void A_signature_whose_key_is_swapped_for_another_is_a_bad_signature()
    {
        var key = _keygen.Generate("admin", "ed25519");
        _keygen.Generate("other", "ed25519");
        var blob = SshSignature.TryParseArmored(_keygen.Sign(key, Message, SshSignature.FleetNamespace))!.Blob.ToArray();
        var own = SshPublicKey.ParseText(_keygen.PublicKeyText("admin")).Blob.ToArray();
        var other = SshPublicKey.ParseText(_keygen.PublicKeyText("other")).Blob.ToArray();
        var at = blob.AsSpan().IndexOf(own);
        other.CopyTo(blob, at);

        var swapped = SshSignature.TryParse(blob)!;

        Assert.Equal(SshSignatureCheck.BadSignature, swapped.Check(Message, SshSignature.FleetNamespace));
    }

    [Fact]
    public void Every_single_bit_flip_of_the_signature_blob_is_refused()
    {
        var key = _keygen.Generate("admin", "ed25519");
        var blob = SshSignature.TryParseArmored(_keygen.Sign(key, Message, SshSignature.FleetNamespace))!.Blob.ToArray();
        for (var bit = 0; bit < blob.Length * 8; bit++)
        {
            var tampered = (byte[])blob.Clone();
            tampered[bit / 8] ^= (byte)(1 << (bit % 8));
            var parsed = SshSignature.TryParse(tampered);
            Assert.True(parsed is null || parsed.Check(Message, SshSignature.FleetNamespace) != SshSignatureCheck.Valid, $"bit {bit} flipped still verified");
        }
    }

    [Theory]
    [InlineData("")]
    [InlineData("-----BEGIN SSH SIGNATURE-----\n-----END SSH SIGNATURE-----\n")]
    [InlineData("-----BEGIN SSH SIGNATURE-----\nU1NIU0lH\n-----END SSH SIGNATURE-----\n")]
    [InlineData("-----BEGIN SSH SIGNATURE-----\n!!!!\n-----END SSH SIGNATURE-----\n")]
    [InlineData("-----BEGIN SSH SIGNATURE-----\nU1NIU0lHAAAAAQAAADMAAAALc3NoLWVkMjU1MTkAAAAgEYLiCwL1iL6vco86xalHa1u1PJ\n")]
    public void Garbage_is_not_a_signature(string text)
    {
        Assert.Null(SshSignature.TryParseArmored(text));
    }

    [Theory]
    [InlineData("sha512")]
    [InlineData("sha256")]
    public void A_signature_made_by_Bastion_is_accepted_by_ssh_keygen(string hash)
    {
        var keyPath = _keygen.Generate("admin", "ed25519");
        using var key = Ed25519PrivateKey.ParseOpenSsh(File.ReadAllText(keyPath));
        Assert.Equal(SshPublicKey.ParseText(_keygen.PublicKeyText("admin")), key.PublicKey);

        var armored = SshSignature.Sign(key, Message, SshSignature.FleetNamespace, hash).ToArmored();
        var signers = "admin@example.org " + _keygen.PublicKeyText("admin") + "\n";

        var accepted = _keygen.Verify(signers, "admin@example.org", SshSignature.FleetNamespace, armored, Message);
        Assert.True(accepted.ExitCode == 0, accepted.Error);
        var tampered = (byte[])Message.Clone();
        tampered[0] ^= 1;
        Assert.NotEqual(0, _keygen.Verify(signers, "admin@example.org", SshSignature.FleetNamespace, armored, tampered).ExitCode);
        Assert.NotEqual(0, _keygen.Verify(signers, "admin@example.org", "git", armored, Message).ExitCode);
    }

    [Fact]
    public void Bastion_armors_a_signature_byte_for_byte_as_ssh_keygen_does()
    {
        var keyPath = _keygen.Generate("admin", "ed25519");
        var armored = _keygen.Sign(keyPath, Message, SshSignature.FleetNamespace);

        Assert.Equal(armored, SshSignature.TryParseArmored(armored)!.ToArmored());
    }

    [Fact]
    public void A_node_key_written_by_Bastion_is_read_by_ssh_keygen_and_signs_for_it()
    {
        using var key = Ed25519PrivateKey.Generate();
        var path = _keygen.File("node");
        File.WriteAllText(path, key.ToOpenSsh("node@web1"));
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);

        var derived = SshKeygen.Run(["-y", "-f", path]);
        Assert.True(derived.ExitCode == 0, derived.Error);
        Assert.Equal(key.PublicKey, SshPublicKey.ParseText(derived.Output));
        var armored = _keygen.Sign(path, Message, SshSignature.FleetNamespace);
        Assert.Equal(SshSignatureCheck.Valid, SshSignature.TryParseArmored(armored)!.Check(Message, SshSignature.FleetNamespace));
        using var reread = Ed25519PrivateKey.ParseOpenSsh(File.ReadAllText(path));
        Assert.Equal(key.PublicKey, reread.PublicKey);
    }

    [Fact]
    public void An_encrypted_private_key_is_refused_with_the_way_out_and_no_key_material()
    {
        var path = _keygen.Generate("admin", "ed25519", passphrase: "correct horse");

        var error = Assert.Throws<PrivateKeyException>(() => Ed25519PrivateKey.ParseOpenSsh(File.ReadAllText(path)));

        Assert.Contains("ssh-agent", error.Message, StringComparison.Ordinal);
        Assert.Contains("ssh-keygen -p", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_non_ed25519_private_key_is_refused_for_signing_with_the_key_type_named()
    {
        var path = _keygen.Generate("admin", "ecdsa", 256);

        var error = Assert.Throws<PrivateKeyException>(() => Ed25519PrivateKey.ParseOpenSsh(File.ReadAllText(path)));

        Assert.Contains("ecdsa-sha2-nistp256", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_fingerprint_is_the_one_ssh_keygen_prints()
    {
        var path = _keygen.Generate("admin", "ed25519");
        var printed = SshKeygen.Run(["-l", "-E", "sha256", "-f", path + ".pub"]);

        Assert.Equal(printed.Output.Split(' ')[1], SshPublicKey.ParseText(_keygen.PublicKeyText("admin")).Fingerprint);
    }
}
