using System.Globalization;
using Bastion.IntegrationTests.Cli;
using Bastion.IntegrationTests.Infrastructure;
using Bastion.IntegrationTests.Tls;
using Bastion.Status;
using Xunit.Abstractions;

namespace Bastion.IntegrationTests.Fleet;

/// <summary>
/// <c>fleet.credentials</c> (a user+password file) and <c>fleet.ca</c> against a real nats-server configured with users
/// and passwords, and with TLS (certificates from Bastion's own CA, as <c>bastionctl pki</c> makes them).
/// </summary>
public sealed class FleetBrokerAuthTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);
    private const string Password = "correct-horse:battery staple";
    private const string BrokerUsers = $$"""
        authorization {
          users = [ { user: "web1", password: "{{Password}}" } ]
        }
        """;

    private static ComponentStatus Nats(StatusSnapshot s) => s.Components.Single(c => c.Kind == "fleet" && c.Name == "nats");

    /// <summary>A private (0600) credentials file, as the admin would write it.</summary>
    private static string Credentials(TempRoot root, string text)
    {
        var path = root.Write("nats-user", text);
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        return path;
    }

    private static void AssertNoSecret(FleetNode node, string secret)
    {
        Assert.DoesNotContain(secret, node.Daemon.Log.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain(secret, File.ReadAllText(Path.Combine(node.Daemon.RuntimeDir, "status.json")), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_user_and_password_file_the_broker_accepts_brings_the_link_up_and_the_password_appears_nowhere()
    {
        await using var broker = await NatsServer.StartAsync(output, BrokerUsers);
        using var files = new TempRoot("fleet-creds-");
        var path = Credentials(files, $"web1\n{Password}\n");

        await using var node = await FleetNode.StartAsync(output, broker, statusInterval: "10m", fleetExtra: $"  credentials: {path}\n");

        var up = await node.Daemon.WaitForStatusAsync(s => Nats(s).State == "Running" && Nats(s).Details.ContainsKey("lastPublished"), "connected and the status put", Patience);
        Assert.Equal("user web1 with a password", Nats(up).Details["credentials"]);
        AssertNoSecret(node, Password);

        // bastionctl takes the same file: with it the admin reads the node's status; without it the broker refuses.
        // (Its entry is in the bucket: the wait above saw lastPublished.)
        var withFile = await Bastionctl.RunAsync(["fleet", "status", "--servers", broker.Url, "--nodes", node.NodesFile, "--key", node.Admin.PrivatePath, "--credentials", path]);
        Assert.True(withFile.ExitCode == 0, withFile.ToString());
        Assert.Contains(" fresh ", withFile.Stdout.Split('\n').Single(l => l.StartsWith(FleetNode.Node + " ", StringComparison.Ordinal)), StringComparison.Ordinal);
        var without = await Bastionctl.RunAsync(["fleet", "status", "--servers", broker.Url, "--nodes", node.NodesFile, "--key", node.Admin.PrivatePath]);
        Assert.True(without.ExitCode == 3, without.ToString());
        var wrongFile = Credentials(files, "web1\nnot-the-password\n");
        var wrong = await Bastionctl.RunAsync(["fleet", "status", "--servers", broker.Url, "--nodes", node.NodesFile, "--key", node.Admin.PrivatePath, "--credentials", wrongFile]);
        Assert.True(wrong.ExitCode == 3, wrong.ToString());
        Assert.DoesNotContain("not-the-password", wrong.ToString(), StringComparison.Ordinal);
        var threeLines = Credentials(files, "web1\nsecret-a\nsecret-b\n");
        var bad = await Bastionctl.RunAsync(["fleet", "status", "--servers", broker.Url, "--nodes", node.NodesFile, "--key", node.Admin.PrivatePath, "--credentials", threeLines]);
        Assert.True(bad.ExitCode == 1, bad.ToString());
        Assert.Contains("neither a NATS .creds file nor two lines", bad.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("secret-a", bad.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_wrong_password_leaves_the_link_degraded_with_a_reason_naming_the_refused_credentials_but_not_the_secret_and_the_fixed_file_is_used_at_the_next_attempt()
    {
        await using var broker = await NatsServer.StartAsync(output, BrokerUsers);
        using var files = new TempRoot("fleet-creds-");
        const string Wrong = "Tr0ub4dor&3-wrong";
        var path = Credentials(files, $"web1\n{Wrong}\n");

        await using var node = await FleetNode.StartAsync(output, broker, statusInterval: "10m", fleetExtra: $"  credentials: {path}\n");

        var degraded = await node.Daemon.WaitForStatusAsync(s => Nats(s).State == "Degraded" && Nats(s).Reason is { } r && r.Contains("refused the credentials", StringComparison.Ordinal),
            "Degraded: credentials refused", Patience);
        Assert.Contains($"the broker refused the credentials in {path} (authorization violation)", Nats(degraded).Reason, StringComparison.Ordinal);
        AssertNoSecret(node, Wrong);

        // The admin fixes the file: the link reconnects with it on its backoff, no reload needed.
        File.WriteAllText(path, $"web1\n{Password}\n");
        await node.Daemon.WaitForStatusAsync(s => Nats(s).State == "Running" && Nats(s).Details.ContainsKey("lastPublished"), "connected with the fixed password", Patience);
        AssertNoSecret(node, Wrong);
        AssertNoSecret(node, Password);
    }

    [Fact]
    public async Task A_credentials_file_owned_by_another_user_or_not_in_the_format_fails_the_link_with_the_file_and_the_fix()
    {
        await using var broker = await NatsServer.StartAsync(output, BrokerUsers);
        using var files = new TempRoot("fleet-creds-");
        var path = Credentials(files, $"web1\n{Password}\n");
        var chown = await ExternalCommand.RunAsync("chown", ["65534", path], TimeSpan.FromSeconds(10));
        Assert.True(chown.ExitCode == 0, chown.Describe());

        await using var node = await FleetNode.StartAsync(output, broker, statusInterval: "10m", fleetExtra: $"  credentials: {path}\n");

        var refused = await node.Daemon.WaitForStatusAsync(s => Nats(s).Reason is { } r && r.Contains("owned by uid 65534", StringComparison.Ordinal), "refused: another owner", Patience);
        Assert.Contains($"fleet.credentials {path} is owned by uid 65534, not by bastiond's user (uid 0)", Nats(refused).Reason, StringComparison.Ordinal);
        Assert.Contains($"chown 0 {path}", Nats(refused).Reason, StringComparison.Ordinal);
        AssertNoSecret(node, Password);

        // Three lines: not a user+password file. Fixed on disk, and taken at the next attempt of the link.
        File.Delete(path);
        Credentials(files, $"web1\n{Password}\nextra\n");
        var format = await node.Daemon.WaitForStatusAsync(s => Nats(s).Reason is { } r && r.Contains("neither a NATS .creds file nor two lines", StringComparison.Ordinal),
            "refused: not two lines", Patience);
        Assert.StartsWith(path, Nats(format).Reason, StringComparison.Ordinal);
        AssertNoSecret(node, Password);
    }

    [Fact]
    public async Task A_tls_broker_verified_against_fleet_ca_is_reached_and_one_signed_by_another_ca_or_for_another_name_is_refused_with_a_certificate_reason()
    {
        using var pki = new TestPki();
        using var other = new TestPki("other-pki");
        await using var broker = await NatsServer.StartAsync(output, $$"""
            tls {
              cert_file: "{{pki.Server.CertificatePath}}"
              key_file: "{{pki.Server.KeyPath}}"
            }
            """);
        var url = "tls://127.0.0.1:" + broker.Port.ToString(CultureInfo.InvariantCulture);

        await using (var good = await FleetNode.StartAsync(output, broker, statusInterval: "10m", fleetExtra: $"  ca: {pki.CaPath}\n", url: url))
        {
            var up = await good.Daemon.WaitForStatusAsync(s => Nats(s).State == "Running" && Nats(s).Details.ContainsKey("lastPublished"), "connected over TLS", Patience);
            Assert.Equal("fleet.ca " + pki.CaPath, Nats(up).Details["tlsTrust"]);
        }

        await using (var wrongCa = await FleetNode.StartAsync(output, broker, statusInterval: "10m", fleetExtra: $"  ca: {other.CaPath}\n", url: url))
        {
            var refused = await wrongCa.Daemon.WaitForStatusAsync(s => Nats(s).State == "Degraded" && Nats(s).Reason is { } r && r.Contains("certificate", StringComparison.Ordinal),
                "Degraded: certificate refused", Patience);
            Assert.Contains($"the broker's TLS certificate is not signed by the CA in fleet.ca {other.CaPath}", Nats(refused).Reason, StringComparison.Ordinal);
        }

        // The right CA, but the URL names a host the certificate (issued for 127.0.0.1) does not.
        var byName = "tls://localhost:" + broker.Port.ToString(CultureInfo.InvariantCulture);
        await using var wrongName = await FleetNode.StartAsync(output, broker, statusInterval: "10m", fleetExtra: $"  ca: {pki.CaPath}\n", url: byName);
        var mismatch = await wrongName.Daemon.WaitForStatusAsync(s => Nats(s).State == "Degraded" && Nats(s).Reason is { } r && r.Contains("certificate", StringComparison.Ordinal),
            "Degraded: certificate name refused", Patience);
        Assert.Contains("the broker's TLS certificate does not name the host in fleet.servers", Nats(mismatch).Reason, StringComparison.Ordinal);
    }
}
