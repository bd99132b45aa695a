using System.Text;
using Bastion.Fleet;

namespace Bastion.Tests.Fleet;

public sealed class FleetSealTests : IDisposable
{
    private static readonly DateTimeOffset Now = new(2026, 12, 6, 12, 0, 0, TimeSpan.Zero);
    private readonly Ed25519PrivateKey _admin = Ed25519PrivateKey.Generate();
    private readonly Ed25519PrivateKey _node = Ed25519PrivateKey.Generate();
    private readonly Ed25519PrivateKey _otherNode = Ed25519PrivateKey.Generate();
    private readonly Ed25519PrivateKey _stranger = Ed25519PrivateKey.Generate();
    private readonly AllowedSigners _signers;
    private readonly MemoryReplayGuard _replay = new();

    public FleetSealTests()
    {
        _signers = AllowedSigners.Parse($"alice@example.org {_admin.PublicKey}\n", "allowed_signers").Signers!;
    }

    public void Dispose()
    {
        _admin.Dispose();
        _node.Dispose();
        _otherNode.Dispose();
        _stranger.Dispose();
    }

    private static FleetCommand Command(string node = "web1", TimeSpan? lifetime = null) =>
        FleetCommand.Create(node, "vnc", ["start", "--for", "30m"], Now, lifetime ?? TimeSpan.FromMinutes(10));

    private FleetOpened<FleetCommand> Open(byte[] envelope, DateTimeOffset? at = null) =>
        FleetSeal.OpenCommand(envelope, "web1", _node, _signers, _replay, at ?? Now);

    [Fact]
    public void The_X25519_key_derived_from_an_Ed25519_public_key_matches_the_one_derived_from_its_private_key()
    {
        for (var i = 0; i < 50; i++)
        {
            using var key = Ed25519PrivateKey.Generate();
            Assert.Equal(FleetKeys.X25519PublicOf(FleetKeys.X25519Private(key)), FleetKeys.X25519Public(key.PublicKey));
        }
    }

    [Fact]
    public void A_command_sealed_by_a_listed_admin_opens_on_its_node_with_every_field_and_the_signer()
    {
        var command = Command();

        var opened = Open(FleetSeal.SealCommand(command, _admin, _node.PublicKey));

        Assert.Equal(FleetOutcome.Accepted, opened.Outcome);
        Assert.Equal(command.Encode(), opened.Message!.Encode());
        Assert.Equal(["start", "--for", "30m"], opened.Message.Args);
        Assert.Equal(_admin.PublicKey.Fingerprint, opened.SignerFingerprint);
        Assert.Equal("alice@example.org", opened.Signer!.Principals);
    }

    [Theory]
    [InlineData("ecdsa", 256)]
    [InlineData("rsa", 2048)]
    [InlineData("ed25519", 0)]
    public void A_command_signed_by_ssh_keygen_with_the_admins_own_key_opens(string type, int bits)
    {
        using var keygen = new SshKeygen();
        var path = keygen.Generate("admin", type, bits);
        var signers = AllowedSigners.Parse("alice@example.org " + keygen.PublicKeyText("admin"), "f").Signers!;
        var payload = Command().Encode();
        var signature = SshSignature.TryParseArmored(keygen.Sign(path, payload, SshSignature.FleetNamespace))!;

        var opened = FleetSeal.OpenCommand(FleetSeal.SealSigned(payload, signature, [_node.PublicKey]), "web1", _node, signers, _replay, Now);

        Assert.Equal(FleetOutcome.Accepted, opened.Outcome);
    }

    [Fact]
    public void A_command_for_another_node_is_refused_as_wrong_node_with_the_signer()
    {
        var opened = Open(FleetSeal.SealCommand(Command("web2"), _admin, _node.PublicKey));

        Assert.Equal(FleetOutcome.WrongNode, opened.Outcome);
        Assert.Null(opened.Message);
        Assert.Equal(_admin.PublicKey.Fingerprint, opened.SignerFingerprint);
    }

    [Fact]
    public void A_command_encrypted_to_another_nodes_key_is_not_for_this_node()
    {
        var opened = Open(FleetSeal.SealCommand(Command(), _admin, _otherNode.PublicKey));

        Assert.Equal(FleetOutcome.NotRecipient, opened.Outcome);
        Assert.Null(opened.SignerFingerprint);
    }

    [Fact]
    public void A_command_is_refused_after_its_expiry_and_before_its_issue_time_beyond_the_clock_skew()
    {
        var command = Command();
        var envelope = FleetSeal.SealCommand(command, _admin, _node.PublicKey);

        Assert.Equal(FleetOutcome.Expired, Open(envelope, command.ExpiresAt.AddSeconds(1)).Outcome);
        Assert.Equal(FleetOutcome.NotYetValid, Open(envelope, command.IssuedAt - FleetSeal.ClockSkew - TimeSpan.FromSeconds(1)).Outcome);
        Assert.Equal(FleetOutcome.Accepted, Open(envelope, command.IssuedAt - FleetSeal.ClockSkew).Outcome);
    }

    [Fact]
    public void The_same_command_opened_twice_is_a_replay_and_a_refused_one_does_not_enter_the_cache()
    {
        var command = Command();
        var envelope = FleetSeal.SealCommand(command, _admin, _node.PublicKey);

        Assert.Equal(FleetOutcome.Expired, Open(envelope, command.ExpiresAt.AddSeconds(1)).Outcome);
        Assert.Empty(_replay.Seen);
        Assert.Equal(FleetOutcome.Accepted, Open(envelope).Outcome);
        Assert.Equal(FleetOutcome.Replayed, Open(envelope).Outcome);
        // Re-encrypting the same signed command does not help either.
        Assert.Equal(FleetOutcome.Replayed, Open(FleetSeal.SealCommand(command, _admin, _node.PublicKey)).Outcome);
    }

    [Fact]
    public void An_unsigned_command_is_refused_as_unsigned()
    {
        var opened = Open(FleetSeal.SealSigned(Command().Encode(), null, [_node.PublicKey]));

        Assert.Equal(FleetOutcome.Unsigned, opened.Outcome);
    }

    [Fact]
    public void A_command_signed_by_a_key_not_in_allowed_signers_is_an_unknown_signer_with_its_fingerprint()
    {
        var opened = Open(FleetSeal.SealCommand(Command(), _stranger, _node.PublicKey));

        Assert.Equal(FleetOutcome.UnknownSigner, opened.Outcome);
        Assert.Equal(_stranger.PublicKey.Fingerprint, opened.SignerFingerprint);
    }

    [Fact]
    public void A_command_whose_signature_covers_other_bytes_is_a_bad_signature()
    {
        var signed = Command().Encode();
        var sent = Command().Encode();

        var opened = Open(FleetSeal.SealSigned(sent, SshSignature.Sign(_admin, signed), [_node.PublicKey]));

        Assert.Equal(FleetOutcome.BadSignature, opened.Outcome);
        Assert.Equal(_admin.PublicKey.Fingerprint, opened.SignerFingerprint);
    }

    [Fact]
    public void A_signature_made_for_another_namespace_does_not_command_a_node()
    {
        var payload = Command().Encode();

        var opened = Open(FleetSeal.SealSigned(payload, SshSignature.Sign(_admin, payload, "git"), [_node.PublicKey]));

        Assert.Equal(FleetOutcome.BadSignature, opened.Outcome);
    }

    [Fact]
    public void A_signed_status_report_is_not_accepted_as_a_command()
    {
        var report = new FleetReport(FleetReportKind.Status, "web1", [], "{}", new byte[16], Now, Now.AddMinutes(1));
        var payload = report.Encode();

        var opened = Open(FleetSeal.SealSigned(payload, SshSignature.Sign(_admin, payload), [_node.PublicKey]));

        Assert.Equal(FleetOutcome.Malformed, opened.Outcome);
    }

    [Fact]
    public void A_command_valid_for_more_than_15_minutes_is_refused_even_when_signed()
    {
        Assert.Throws<ArgumentException>(() => Command(lifetime: TimeSpan.FromMinutes(16)).Encode());
        var longLived = Command().Encode();
        // Rewrite expiresAt (the last 8 bytes) to issuedAt + 16 min and sign that.
        var issued = (ulong)Now.ToUnixTimeSeconds();
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64BigEndian(longLived.AsSpan(longLived.Length - 8), issued + (16 * 60));

        var opened = Open(FleetSeal.SealSigned(longLived, SshSignature.Sign(_admin, longLived), [_node.PublicKey]));

        Assert.Equal(FleetOutcome.Malformed, opened.Outcome);
    }

    [Fact]
    public void Every_single_bit_flip_of_an_envelope_is_refused_and_a_payload_flip_is_tampering()
    {
        var envelope = FleetSeal.SealCommand(Command(), _admin, _node.PublicKey);
        var outcomes = new HashSet<FleetOutcome>();
        for (var bit = 0; bit < envelope.Length * 8; bit++)
        {
            var tampered = (byte[])envelope.Clone();
            tampered[bit / 8] ^= (byte)(1 << (bit % 8));
            var outcome = Open(tampered).Outcome;
            Assert.True(outcome is FleetOutcome.Tampered or FleetOutcome.NotRecipient or FleetOutcome.Malformed, $"bit {bit}: {outcome}");
            outcomes.Add(outcome);
        }
        Assert.Contains(FleetOutcome.Tampered, outcomes);
        Assert.Empty(_replay.Seen);
    }

    [Theory]
    [InlineData("")]
    [InlineData("garbage")]
    [InlineData("\0\0\0\u0019bastion-fleet-envelope@v1\0\0\0\0")]
    [InlineData("\0\0\0\u0019bastion-fleet-envelope@v1\u00ff\u00ff\u00ff\u00ff")]
    public void Garbage_is_malformed(string text)
    {
        Assert.Equal(FleetOutcome.Malformed, Open(Encoding.Latin1.GetBytes(text)).Outcome);
    }

    [Fact]
    public void A_status_reaches_every_admin_and_nobody_else()
    {
        using var bob = Ed25519PrivateKey.Generate();
        using var carol = Ed25519PrivateKey.Generate();
        var report = new FleetReport(FleetReportKind.Status, "web1", [], "{\"state\":\"Running\"}", new byte[16], Now, Now.AddMinutes(2));
        var envelope = FleetSeal.SealReport(report, _node, [_admin.PublicKey, bob.PublicKey, carol.PublicKey]);

        foreach (var admin in new[] { _admin, bob, carol })
        {
            var opened = FleetSeal.OpenReport(envelope, "web1", _node.PublicKey, admin, Now);
            Assert.Equal(FleetOutcome.Accepted, opened.Outcome);
            Assert.Equal(report.Body, opened.Message!.Body);
        }
        Assert.Equal(FleetOutcome.NotRecipient, FleetSeal.OpenReport(envelope, "web1", _node.PublicKey, _stranger, Now).Outcome);
        Assert.Equal(FleetOutcome.Expired, FleetSeal.OpenReport(envelope, "web1", _node.PublicKey, bob, Now.AddMinutes(3)).Outcome);
    }

    [Fact]
    public void A_report_signed_by_another_key_or_naming_another_node_is_refused()
    {
        var report = new FleetReport(FleetReportKind.Reply, "web1", new byte[16], "ok", new byte[16], Now, Now.AddMinutes(2));

        var forged = FleetSeal.SealReport(report, _otherNode, [_admin.PublicKey]);
        var genuine = FleetSeal.SealReport(report, _node, [_admin.PublicKey]);

        Assert.Equal(FleetOutcome.UnknownSigner, FleetSeal.OpenReport(forged, "web1", _node.PublicKey, _admin, Now).Outcome);
        Assert.Equal(FleetOutcome.WrongNode, FleetSeal.OpenReport(genuine, "web2", _node.PublicKey, _admin, Now).Outcome);
    }

    [Fact]
    public void A_report_listing_many_admins_still_opens_for_the_last_one()
    {
        var admins = Enumerable.Range(0, 40).Select(_ => Ed25519PrivateKey.Generate()).ToList();
        var report = new FleetReport(FleetReportKind.Status, "web1", [], "{}", new byte[16], Now, Now.AddMinutes(2));

        var envelope = FleetSeal.SealReport(report, _node, [.. admins.Select(a => a.PublicKey)]);

        Assert.Equal(FleetOutcome.Accepted, FleetSeal.OpenReport(envelope, "web1", _node.PublicKey, admins[^1], Now).Outcome);
        admins.ForEach(a => a.Dispose());
    }

    internal sealed class MemoryReplayGuard : IReplayGuard
    {
        public HashSet<string> Seen { get; } = [];

        public ReplayVerdict TryAccept(ReadOnlySpan<byte> nonce, DateTimeOffset expiresAt) =>
            Seen.Add(Convert.ToHexString(nonce)) ? ReplayVerdict.Fresh : ReplayVerdict.Replayed;
    }
}

public sealed class FleetSealCertificateTests
{
    [Fact]
    public void A_command_signed_with_an_admin_certificate_from_a_listed_CA_opens_and_names_the_certificate_principal()
    {
        using var keygen = new SshKeygen();
        using var node = Ed25519PrivateKey.Generate();
        keygen.Generate("ca", "ed25519");
        var admin = keygen.Generate("admin", "ecdsa", 256);
        var certified = SshKeygen.Run(["-q", "-s", keygen.File("ca"), "-I", "alice-laptop", "-n", "alice@example.org", admin + ".pub"]);
        Assert.True(certified.ExitCode == 0, certified.Error);
        var signers = AllowedSigners.Parse("*@example.org cert-authority " + keygen.PublicKeyText("ca"), "f").Signers!;
        var now = DateTimeOffset.UtcNow;
        var payload = FleetCommand.Create("web1", "vnc", ["stop"], now, TimeSpan.FromMinutes(5)).Encode();
        var signature = SshSignature.TryParseArmored(keygen.Sign(admin + "-cert.pub", payload, SshSignature.FleetNamespace))!;

        var opened = FleetSeal.OpenCommand(FleetSeal.SealSigned(payload, signature, [node.PublicKey]), "web1", node, signers, new FleetSealTests.MemoryReplayGuard(), now);

        Assert.Equal(FleetOutcome.Accepted, opened.Outcome);
        Assert.Equal("alice@example.org", opened.Signer!.Principals);
        Assert.Equal(SshPublicKey.ParseText(keygen.PublicKeyText("admin")).Fingerprint, opened.SignerFingerprint);
    }
}
