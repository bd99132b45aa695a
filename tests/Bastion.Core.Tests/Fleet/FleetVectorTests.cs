using System.Text.RegularExpressions;
using Bastion.Fleet;

namespace Bastion.Tests.Fleet;

/// <summary>
/// The test vectors of docs/fleet-envelope.md are computed here from their fixed inputs and compared with the
/// document, so the document cannot drift from the code.
/// </summary>
public sealed partial class FleetVectorTests
{
    [Fact]
    public void The_documented_test_vectors_are_what_the_code_produces()
    {
        var doc = Documented();
        var computed = Compute(doc);

        var report = string.Join("\n", computed.Select(kv => $"{kv.Key}: {kv.Value}"));
        foreach (var (name, value) in computed)
        {
            Assert.True(doc.TryGetValue(name, out var documented), $"docs/fleet-envelope.md lacks `{name}`; computed:\n{report}");
            Assert.True(documented == value, $"`{name}` in docs/fleet-envelope.md differs from the code; computed:\n{report}");
        }
    }

    [Fact]
    public void The_documented_envelope_opens_on_its_node_as_the_documented_command()
    {
        var doc = Documented();
        using var node = Ed25519PrivateKey.FromSeed(Convert.FromHexString(doc["node-seed"]));
        using var admin = Ed25519PrivateKey.FromSeed(Convert.FromHexString(doc["admin-seed"]));
        var signers = AllowedSigners.Parse($"admin@example.org {admin.PublicKey}", "f").Signers!;
        var issued = DateTimeOffset.FromUnixTimeSeconds(long.Parse(doc["issued-at"], System.Globalization.CultureInfo.InvariantCulture));

        var opened = FleetSeal.OpenCommand(Convert.FromHexString(doc["envelope"]), "web1", node, signers, new FleetSealTests.MemoryReplayGuard(), issued);

        Assert.Equal(FleetOutcome.Accepted, opened.Outcome);
        Assert.Equal(doc["payload"], Convert.ToHexStringLower(opened.Message!.Encode()));
        Assert.Equal(doc["admin-fingerprint"], opened.SignerFingerprint);
    }

    private static SortedDictionary<string, string> Compute(Dictionary<string, string> inputs)
    {
        using var admin = Ed25519PrivateKey.FromSeed(Convert.FromHexString(inputs["admin-seed"]));
        using var node = Ed25519PrivateKey.FromSeed(Convert.FromHexString(inputs["node-seed"]));
        var issued = DateTimeOffset.FromUnixTimeSeconds(long.Parse(inputs["issued-at"], System.Globalization.CultureInfo.InvariantCulture));
        var command = new FleetCommand("web1", "vnc", ["start", "--for", "30m"], Convert.FromHexString(inputs["nonce"]), issued, issued.AddMinutes(10));
        var payload = command.Encode();
        var signature = SshSignature.Sign(admin, payload);
        var randomness = new Queue<byte[]>([Convert.FromHexString(inputs["file-key"]), Convert.FromHexString(inputs["ephemeral-secret"])]);
        var envelope = FleetSeal.SealSigned(payload, signature, [node.PublicKey], span => randomness.Dequeue().CopyTo(span));
        return new SortedDictionary<string, string>(StringComparer.Ordinal)
        {
            ["admin-public"] = admin.PublicKey.ToString(),
            ["admin-fingerprint"] = admin.PublicKey.Fingerprint,
            ["node-public"] = node.PublicKey.ToString(),
            ["node-x25519-public"] = Convert.ToHexStringLower(FleetKeys.X25519Public(node.PublicKey)),
            ["node-x25519-secret"] = Convert.ToHexStringLower(FleetKeys.X25519Private(node)),
            ["payload"] = Convert.ToHexStringLower(payload),
            ["sshsig"] = Convert.ToHexStringLower(signature.Blob),
            ["envelope"] = Convert.ToHexStringLower(envelope),
        };
    }

    /// <summary>The <c>name: value</c> lines of the "Test vectors" code block; hex values may continue on following lines.</summary>
    private static Dictionary<string, string> Documented()
    {
        var text = File.ReadAllText(DocPath());
        var start = text.IndexOf("## Test vectors", StringComparison.Ordinal);
        Assert.True(start >= 0, "docs/fleet-envelope.md has no '## Test vectors' section");
        var block = text[start..];
        block = block[(block.IndexOf("```", StringComparison.Ordinal) + 3)..];
        block = block[(block.IndexOf('\n') + 1)..block.IndexOf("```", StringComparison.Ordinal)];
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        string? last = null;
        foreach (var line in block.Split('\n'))
        {
            var match = NameValue().Match(line);
            if (match.Success)
            {
                last = match.Groups[1].Value;
                values[last] = match.Groups[2].Value.Trim();
            }
            else if (last is not null && HexLine().IsMatch(line))
            {
                values[last] += line.Trim();
            }
        }
        return values;
    }

    private static string DocPath()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "docs", "fleet-envelope.md");
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }
        throw new FileNotFoundException("docs/fleet-envelope.md not found above " + AppContext.BaseDirectory);
    }

    [GeneratedRegex(@"^([a-z0-9-]+): (.+)$")]
    private static partial Regex NameValue();

    [GeneratedRegex(@"^\s+[0-9a-f]+\s*$")]
    private static partial Regex HexLine();
}
