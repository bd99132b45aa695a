using System.Text;
using Bastion.Fleet;

namespace Bastion.Tests.Fleet;

/// <summary>
/// allowed_signers as <c>ssh-keygen -Y verify</c> judges it: every case is given to both, with the same file, principal,
/// namespace and verify time, and the verdicts must agree.
/// </summary>
public sealed class AllowedSignersTests : IDisposable
{
    private static readonly byte[] Message = Encoding.UTF8.GetBytes("reload\n");
    private static readonly DateTimeOffset Now = new(2026, 12, 6, 12, 0, 0, TimeSpan.Zero);
    private const string NowText = "20261206120000Z";
    private readonly SshKeygen _keygen = new();

    public AllowedSignersTests()
    {
        _keygen.Generate("a", "ed25519");
        _keygen.Generate("b", "ecdsa", 256);
        _keygen.Generate("c", "ed25519");
    }

    public void Dispose() => _keygen.Dispose();

    public static TheoryData<string, string, string, string, SignerOutcome> Cases => new()
    {
        // file (KEY_A / KEY_B are replaced by the keys), principal, signer, namespace, Bastion's outcome
        { "alice@example.org KEY_A", "alice@example.org", "a", "bastion-fleet@v1", SignerOutcome.Accepted },
        { "alice@example.org KEY_A", "bob@example.org", "a", "bastion-fleet@v1", SignerOutcome.UnknownSigner },
        { "alice@example.org KEY_A", "alice@example.org", "c", "bastion-fleet@v1", SignerOutcome.UnknownSigner },
        { "alice@example.org KEY_B", "alice@example.org", "b", "bastion-fleet@v1", SignerOutcome.Accepted },
        { "*@example.org KEY_A", "alice@example.org", "a", "bastion-fleet@v1", SignerOutcome.Accepted },
        { "*@example.org KEY_A", "eve@example.net", "a", "bastion-fleet@v1", SignerOutcome.UnknownSigner },
        { "al?ce@example.org KEY_A", "alice@example.org", "a", "bastion-fleet@v1", SignerOutcome.Accepted },
        { "al?ce@example.org KEY_A", "allce@example.org", "a", "bastion-fleet@v1", SignerOutcome.Accepted },
        { "al?ce@example.org KEY_A", "alce@example.org", "a", "bastion-fleet@v1", SignerOutcome.UnknownSigner },
        { "Alice@example.org KEY_A", "alice@example.org", "a", "bastion-fleet@v1", SignerOutcome.UnknownSigner },
        { "*@example.org,!mallory@example.org KEY_A", "mallory@example.org", "a", "bastion-fleet@v1", SignerOutcome.UnknownSigner },
        { "*@example.org,!mallory@example.org KEY_A", "alice@example.org", "a", "bastion-fleet@v1", SignerOutcome.Accepted },
        { "!mallory@example.org KEY_A", "alice@example.org", "a", "bastion-fleet@v1", SignerOutcome.UnknownSigner },
        { "bob@example.org,alice@example.org KEY_A", "alice@example.org", "a", "bastion-fleet@v1", SignerOutcome.Accepted },
        { "\"bob@example.org,alice@example.org\" KEY_A", "alice@example.org", "a", "bastion-fleet@v1", SignerOutcome.Accepted },
        { "alice@example.org namespaces=\"git\" KEY_A", "alice@example.org", "a", "bastion-fleet@v1", SignerOutcome.NamespaceNotAllowed },
        { "alice@example.org namespaces=\"git,bastion-*\" KEY_A", "alice@example.org", "a", "bastion-fleet@v1", SignerOutcome.Accepted },
        { "alice@example.org namespaces=\"*,!bastion-fleet@v1\" KEY_A", "alice@example.org", "a", "bastion-fleet@v1", SignerOutcome.NamespaceNotAllowed },
        { "alice@example.org NAMESPACES=\"bastion-fleet@v1\" KEY_A", "alice@example.org", "a", "bastion-fleet@v1", SignerOutcome.Accepted },
        { "alice@example.org namespaces=\"git\" KEY_A", "alice@example.org", "a", "git", SignerOutcome.Accepted },
        { "alice@example.org valid-after=\"20270101Z\" KEY_A", "alice@example.org", "a", "bastion-fleet@v1", SignerOutcome.NotYetValid },
        { "alice@example.org valid-after=\"20261206120000Z\" KEY_A", "alice@example.org", "a", "bastion-fleet@v1", SignerOutcome.Accepted },
        { "alice@example.org valid-after=\"202612061201Z\" KEY_A", "alice@example.org", "a", "bastion-fleet@v1", SignerOutcome.NotYetValid },
        { "alice@example.org valid-before=\"20261206Z\" KEY_A", "alice@example.org", "a", "bastion-fleet@v1", SignerOutcome.Expired },
        { "alice@example.org valid-before=\"20261206120000Z\" KEY_A", "alice@example.org", "a", "bastion-fleet@v1", SignerOutcome.Accepted },
        { "alice@example.org valid-after=\"20260101Z\",valid-before=\"20270101Z\" KEY_A", "alice@example.org", "a", "bastion-fleet@v1", SignerOutcome.Accepted },
        { "alice@example.org namespaces=\"git\" KEY_A\nalice@example.org KEY_A", "alice@example.org", "a", "bastion-fleet@v1", SignerOutcome.Accepted },
        { "alice@example.org KEY_B\nalice@example.org KEY_A", "alice@example.org", "a", "bastion-fleet@v1", SignerOutcome.Accepted },
        { "alice@example.org cert-authority KEY_A", "alice@example.org", "a", "bastion-fleet@v1", SignerOutcome.UnknownSigner },
        { "# admins\n\n   alice@example.org KEY_A the laptop key\n", "alice@example.org", "a", "bastion-fleet@v1", SignerOutcome.Accepted },
        { "alice@example.org\tKEY_A", "alice@example.org", "a", "bastion-fleet@v1", SignerOutcome.Accepted },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Bastion_and_ssh_keygen_give_the_same_verdict(string file, string principal, string signer, string ns, SignerOutcome expected)
    {
        var text = file.Replace("KEY_A", _keygen.PublicKeyText("a"), StringComparison.Ordinal)
            .Replace("KEY_B", _keygen.PublicKeyText("b"), StringComparison.Ordinal);
        var armored = _keygen.Sign(_keygen.File(signer), Message, ns);
        var (signers, errors) = AllowedSigners.Parse(text, "allowed_signers");
        Assert.Empty(errors);

        var verdict = signers!.Verify(SshSignature.TryParseArmored(armored)!, Message, principal, ns, Now);
        var judge = _keygen.Verify(text, principal, ns, armored, Message, NowText);

        Assert.Equal(expected, verdict.Outcome);
        Assert.True((judge.ExitCode == 0) == verdict.Accepted, $"ssh-keygen exit {judge.ExitCode}: {judge.Error}; Bastion {verdict.Outcome}");
        Assert.Equal(SshPublicKey.ParseText(_keygen.PublicKeyText(signer)).Fingerprint, verdict.Fingerprint);
    }

    public static TheoryData<string, int, string> Broken => new()
    {
        // line text (KEY_A replaced), column of the error, a word the message must contain
        { "alice@example.org", 1, "principals and a public key" },
        { "alice@example.org frobnicate KEY_A", 19, "unknown option" },
        { "alice@example.org namespaces=git KEY_A", 30, "not quoted" },
        { "alice@example.org namespaces=\"git KEY_A", 19, "no closing quote" },
        { "alice@example.org valid-after=\"2026-01-01\" KEY_A", 32, "not a time" },
        { "alice@example.org valid-after=\"20261301Z\" KEY_A", 32, "not a time" },
        { "alice@example.org valid-after=\"20270101Z\",valid-before=\"20260101Z\" KEY_A", 19, "not after" },
        { "alice@example.org namespaces=\"a\",namespaces=\"b\" KEY_A", 34, "twice" },
        { "alice@example.org cert-authority,", 33, "comma" },
        { "alice@example.org cert-authority ssh-ed25519 AAAAnotakey", 34, "not a valid public key" },
        { "alice@example.org cert-authority", 19, "missing public key" },
    };

    [Theory]
    [MemberData(nameof(Broken))]
    public void A_broken_line_is_an_error_naming_file_line_and_column_and_ssh_keygen_refuses_it_too(string line, int column, string words)
    {
        var text = "# admins\n" + line.Replace("KEY_A", _keygen.PublicKeyText("a"), StringComparison.Ordinal) + "\n";

        var (signers, errors) = AllowedSigners.Parse(text, "/etc/bastion/fleet/allowed_signers");

        Assert.Null(signers);
        var error = Assert.Single(errors);
        Assert.StartsWith($"/etc/bastion/fleet/allowed_signers:2:{column}: ", error.ToString(), StringComparison.Ordinal);
        Assert.Contains(words, error.ToString(), StringComparison.Ordinal);
        var armored = _keygen.Sign(_keygen.File("a"), Message, SshSignature.FleetNamespace);
        Assert.NotEqual(0, _keygen.Verify(text, "alice@example.org", SshSignature.FleetNamespace, armored, Message, NowText).ExitCode);
    }

    [Fact]
    public void Every_broken_line_of_a_file_is_reported_not_only_the_first()
    {
        var text = "alice@example.org frobnicate KEY\nbob@example.org\ncarol@example.org " + _keygen.PublicKeyText("a") + "\n";

        var (_, errors) = AllowedSigners.Parse(text, "f");

        Assert.Equal([1, 2], errors.Select(e => e.Line));
    }

    [Fact]
    public void Without_a_principal_the_first_line_listing_the_key_names_the_signer()
    {
        var text = "alice@example.org " + _keygen.PublicKeyText("a") + "\nbob@example.org " + _keygen.PublicKeyText("c") + "\n";
        var (signers, _) = AllowedSigners.Parse(text, "f");
        var signature = SshSignature.TryParseArmored(_keygen.Sign(_keygen.File("c"), Message, SshSignature.FleetNamespace))!;

        var verdict = signers!.VerifyAnyPrincipal(signature, Message, SshSignature.FleetNamespace, Now);

        Assert.Equal(SignerOutcome.Accepted, verdict.Outcome);
        Assert.Equal("bob@example.org", verdict.Principals);
        Assert.Equal(2, verdict.Line);
        var found = SshKeygen.Run(["-Y", "find-principals", "-f", WriteSigners(text), "-s", WriteSig(signature)]);
        Assert.Equal("bob@example.org", found.Output.Trim());
    }

    [Fact]
    public void A_tampered_message_is_refused_before_allowed_signers_is_consulted()
    {
        var (signers, _) = AllowedSigners.Parse("alice@example.org " + _keygen.PublicKeyText("a"), "f");
        var signature = SshSignature.TryParseArmored(_keygen.Sign(_keygen.File("a"), Message, SshSignature.FleetNamespace))!;
        var tampered = (byte[])Message.Clone();
        tampered[^1] ^= 0x80;

        var verdict = signers!.Verify(signature, tampered, "alice@example.org", SshSignature.FleetNamespace, Now);

        Assert.Equal(SignerOutcome.BadSignature, verdict.Outcome);
        Assert.Equal(SshSignatureCheck.BadSignature, verdict.Check);
    }

    public static TheoryData<string, string, string, SignerOutcome> CertificateCases => new()
    {
        // ssh-keygen -s options for the certificate of key a, allowed_signers line (CA = the CA key), principal, outcome
        { "-n alice@example.org", "*@example.org cert-authority CA", "alice@example.org", SignerOutcome.Accepted },
        { "-n alice@example.org,bob@example.org", "alice@example.org cert-authority CA", "alice@example.org", SignerOutcome.Accepted },
        { "-n alice@example.org", "*@example.org cert-authority CA", "bob@example.org", SignerOutcome.CertificateNotAuthorized },
        { "-n alice@example.org", "bob@example.org cert-authority CA", "alice@example.org", SignerOutcome.UnknownSigner },
        { "-n *@example.org", "*@example.org cert-authority CA", "alice@example.org", SignerOutcome.CertificateNotAuthorized },
        { "-n alice@example.org -V 20200101:20210101", "*@example.org cert-authority CA", "alice@example.org", SignerOutcome.Expired },
        { "-n alice@example.org -V 20300101:20310101", "*@example.org cert-authority CA", "alice@example.org", SignerOutcome.NotYetValid },
        { "-n alice@example.org -V 20200101:20261206120000", "*@example.org cert-authority CA", "alice@example.org", SignerOutcome.Expired },
        { "-n alice@example.org -h", "*@example.org cert-authority CA", "alice@example.org", SignerOutcome.CertificateNotAuthorized },
        { "-n alice@example.org", "*@example.org CA", "alice@example.org", SignerOutcome.UnknownSigner },
        { "-n alice@example.org", "*@example.org cert-authority OTHER", "alice@example.org", SignerOutcome.UnknownSigner },
        { "-n alice@example.org", "*@example.org cert-authority,namespaces=\"git\" CA", "alice@example.org", SignerOutcome.NamespaceNotAllowed },
        { "-n alice@example.org", "*@example.org cert-authority,valid-before=\"20260101Z\" CA", "alice@example.org", SignerOutcome.Expired },
        { "-n alice@example.org", "*@example.org cert-authority,namespaces=\"git\" CA\n*@example.org cert-authority CA", "alice@example.org", SignerOutcome.Accepted },
    };

    [Theory]
    [MemberData(nameof(CertificateCases))]
    public void Certificate_signatures_get_the_same_verdict_from_Bastion_and_ssh_keygen(string certOptions, string line, string principal, SignerOutcome expected)
    {
        _keygen.Generate("ca", "ed25519");
        _keygen.Generate("other", "ed25519");
        var certify = new List<string> { "-q", "-s", _keygen.File("ca"), "-I", "alice-laptop" };
        certify.AddRange(certOptions.Split(' '));
        certify.Add(_keygen.File("a") + ".pub");
        var signed = SshKeygen.Run(certify);
        Assert.True(signed.ExitCode == 0, signed.Error);
        var armored = _keygen.Sign(_keygen.File("a-cert.pub"), Message, SshSignature.FleetNamespace);
        var text = line.Replace("OTHER", _keygen.PublicKeyText("other"), StringComparison.Ordinal)
            .Replace("CA", _keygen.PublicKeyText("ca"), StringComparison.Ordinal) + "\n";
        var (signers, errors) = AllowedSigners.Parse(text, "f");
        Assert.Empty(errors);
        var signature = SshSignature.TryParseArmored(armored)!;
        Assert.Equal(SshKeyKind.Certificate, signature.PublicKey.Kind);

        var verdict = signers!.Verify(signature, Message, principal, SshSignature.FleetNamespace, Now);
        var judge = _keygen.Verify(text, principal, SshSignature.FleetNamespace, armored, Message, NowText);

        Assert.Equal(expected, verdict.Outcome);
        Assert.True((judge.ExitCode == 0) == verdict.Accepted, $"ssh-keygen exit {judge.ExitCode}: {judge.Error}; Bastion {verdict.Outcome}");
        Assert.Equal(SshPublicKey.ParseText(_keygen.PublicKeyText("a")).Fingerprint, verdict.Fingerprint);
    }

    [Fact]
    public void A_certificate_whose_CA_signature_was_altered_is_a_bad_signature()
    {
        _keygen.Generate("ca", "ed25519");
        Assert.Equal(0, SshKeygen.Run(["-q", "-s", _keygen.File("ca"), "-I", "id", "-n", "alice@example.org", _keygen.File("a") + ".pub"]).ExitCode);
        var armored = _keygen.Sign(_keygen.File("a-cert.pub"), Message, SshSignature.FleetNamespace);
        var blob = SshSignature.TryParseArmored(armored)!.Blob.ToArray();
        var certificate = SshPublicKey.ParseText(File.ReadAllText(_keygen.File("a-cert.pub"))).Blob.ToArray();
        var at = blob.AsSpan().IndexOf(certificate);
        blob[at + certificate.Length - 1] ^= 1; // last byte of the CA's signature

        var tampered = SshSignature.TryParse(blob)!;

        Assert.Equal(SshSignatureCheck.BadCertificate, tampered.Check(Message, SshSignature.FleetNamespace));
    }

    [Fact]
    public void Without_a_principal_a_certificate_names_the_principals_the_line_admits()
    {
        _keygen.Generate("ca", "ed25519");
        Assert.Equal(0, SshKeygen.Run(["-q", "-s", _keygen.File("ca"), "-I", "id", "-n", "alice@example.org,alice@other.org", _keygen.File("a") + ".pub"]).ExitCode);
        var signature = SshSignature.TryParseArmored(_keygen.Sign(_keygen.File("a-cert.pub"), Message, SshSignature.FleetNamespace))!;
        var text = "*@example.org cert-authority " + _keygen.PublicKeyText("ca") + "\n";
        var (signers, _) = AllowedSigners.Parse(text, "f");

        var verdict = signers!.VerifyAnyPrincipal(signature, Message, SshSignature.FleetNamespace, Now);

        Assert.Equal(SignerOutcome.Accepted, verdict.Outcome);
        Assert.Equal("alice@example.org", verdict.Principals);
        var found = SshKeygen.Run(["-Y", "find-principals", "-f", WriteSigners(text), "-s", WriteSig(signature), "-Overify-time=" + NowText]);
        Assert.Equal("alice@example.org", found.Output.Trim());
    }

    [Fact]
    public void The_admins_to_encrypt_to_are_the_distinct_ed25519_keys_of_plain_lines()
    {
        var a = _keygen.PublicKeyText("a");
        var text = $"alice@example.org {a}\nalice@work {a}\nbob@example.org {_keygen.PublicKeyText("b")}\n*@ca cert-authority {_keygen.PublicKeyText("c")}\n";
        var (signers, _) = AllowedSigners.Parse(text, "f");

        Assert.Equal([SshPublicKey.ParseText(a)], signers!.Ed25519Keys());
    }

    private string WriteSigners(string text)
    {
        var path = _keygen.File("signers-" + Guid.NewGuid().ToString("N"));
        File.WriteAllText(path, text);
        return path;
    }

    private string WriteSig(SshSignature signature)
    {
        var path = _keygen.File("sig-" + Guid.NewGuid().ToString("N"));
        File.WriteAllText(path, signature.ToArmored());
        return path;
    }
}
