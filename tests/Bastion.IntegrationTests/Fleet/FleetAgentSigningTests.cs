using Bastion.Fleet;
using Bastion.IntegrationTests.Cli;
using Bastion.IntegrationTests.Infrastructure;
using Xunit.Abstractions;

namespace Bastion.IntegrationTests.Fleet;

/// <summary>
/// Signing fleet commands with keys held by a real ssh-agent (passphrase-protected files loaded with ssh-add): the SSHSIG
/// the agent makes is one <c>ssh-keygen -Y verify</c> accepts, a real bastiond accepts a command sent that way, and the
/// cases without an agent or without the key in it end with a message that says what to do.
/// </summary>
public sealed class FleetAgentSigningTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);
    private const string Passphrase = "correct horse battery staple";

    private static async Task<string> KeyAsync(TempRoot root, string name, string type, string? passphrase)
    {
        var path = root.File(name);
        string[] args = type == "rsa" ? ["-q", "-t", "rsa", "-b", "2048"] : type == "ecdsa" ? ["-q", "-t", "ecdsa", "-b", "256"] : ["-q", "-t", type];
        var made = await ExternalCommand.RunAsync("ssh-keygen", [.. args, "-N", passphrase ?? "", "-C", name, "-f", path], Patience);
        Assert.True(made.ExitCode == 0, made.Describe());
        return path;
    }

    [Theory]
    [InlineData("ed25519")]
    [InlineData("ecdsa")]
    [InlineData("rsa")]
    public async Task A_key_held_by_ssh_agent_makes_an_sshsig_that_ssh_keygen_verifies(string type)
    {
        using var root = new TempRoot("agent-sign-");
        await using var agent = await SshAgent.StartAsync(output);
        var path = await KeyAsync(root, "admin_" + type, type, Passphrase);
        await agent.AddAsync(path, Passphrase);
        var publicKey = SshPublicKey.ParseText(File.ReadAllText(path + ".pub"));
        var message = "bastion-fleet-command@v1 test message"u8.ToArray();

        using var client = SshAgentClient.Connect(agent.Socket, TimeSpan.FromSeconds(30));
        Assert.Contains(client.Identities(), i => i.Key.Equals(publicKey));
        var signature = SshSignature.SignWith(publicKey, data => client.Sign(publicKey, data), message);

        var messageFile = root.Write("message", System.Text.Encoding.UTF8.GetString(message));
        var signatureFile = root.Write("message.sig", signature.ToArmored());
        var signers = root.Write("allowed_signers", $"alice@example.org {File.ReadAllText(path + ".pub").Trim()}\n");
        var verified = await ExternalCommand.RunAsync("/bin/sh",
            ["-c", "ssh-keygen -Y verify -f \"$1\" -I alice@example.org -n bastion-fleet@v1 -s \"$2\" < \"$3\"", "sh", signers, signatureFile, messageFile], Patience);
        Assert.True(verified.ExitCode == 0, verified.Describe());
        Assert.Contains("Good \"bastion-fleet@v1\" signature for alice@example.org", verified.Output, StringComparison.Ordinal);
        if (type == "rsa")
        {
            Assert.Contains("rsa-sha2-512", System.Text.Encoding.ASCII.GetString(signature.Blob), StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Fleet_send_with_a_passphrase_protected_key_signs_through_ssh_agent_and_a_real_node_accepts_and_runs_the_command()
    {
        await using var broker = await NatsServer.StartAsync(output);
        await using var node = await FleetNode.StartRunningAsync(output, broker);
        await using var agent = await SshAgent.StartAsync(output);
        // The admin's key (listed in the node's allowed_signers) now carries a passphrase: only the agent can use it.
        var protect = await ExternalCommand.RunAsync("ssh-keygen", ["-q", "-p", "-P", "", "-N", Passphrase, "-f", node.Admin.PrivatePath], Patience);
        Assert.True(protect.ExitCode == 0, protect.Describe());
        await agent.AddAsync(node.Admin.PrivatePath, Passphrase);
        var fingerprint = SshPublicKey.ParseText(node.Admin.PublicLine).Fingerprint;
        var instance = (await node.Daemon.WaitForStatusAsync(s => s.Components.Any(c => c.Name == FleetNode.CheckName), "check listed")).Components.Single(c => c.Name == FleetNode.CheckName).Instance;

        var run = await Bastionctl.RunAsync(
            ["fleet", "send", "--servers", broker.Url, "--nodes", node.NodesFile, "--key", node.Admin.PrivatePath, FleetNode.Node, "--", "restart", "check/" + FleetNode.CheckName],
            workingDirectory: null, environment: new Dictionary<string, string> { ["SSH_AUTH_SOCK"] = agent.Socket });

        Assert.True(run.ExitCode == 1, run.ToString()); // stored, not confirmed: never reported as success
        Assert.Contains($"web1: stored: signed through ssh-agent with {fingerprint}", run.Stdout, StringComparison.Ordinal);
        Assert.Contains("an agent can sign but not decrypt", run.Stderr, StringComparison.Ordinal);
        await node.Daemon.Log.WaitForLineAsync(l => l.Contains($"fleet: command 'restart' accepted, signed by {fingerprint}", StringComparison.Ordinal), Patience, "the node accepted the agent-signed command");
        await node.Daemon.WaitForStatusAsync(s => s.Components.Single(c => c.Name == FleetNode.CheckName).Instance != instance, "the check restarted (a new instance)", Patience);

        // Its .pub names the same agent key.
        var byPublic = await Bastionctl.RunAsync(
            ["fleet", "send", "--servers", broker.Url, "--nodes", node.NodesFile, "--key", node.Admin.PrivatePath + ".pub", FleetNode.Node, "status"],
            workingDirectory: null, environment: new Dictionary<string, string> { ["SSH_AUTH_SOCK"] = agent.Socket });
        Assert.True(byPublic.ExitCode == 1, byPublic.ToString());
        await node.Daemon.Log.WaitForLineAsync(l => l.Contains($"fleet: command 'status' accepted, signed by {fingerprint}", StringComparison.Ordinal), Patience, "the .pub-named command accepted");
        Assert.DoesNotContain(node.Daemon.Log.Lines, l => l.Contains("SECURITY fleet: command refused", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Fleet_send_with_a_passphrase_protected_key_and_no_agent_tells_the_admin_to_use_ssh_agent()
    {
        using var root = new TempRoot("agent-none-");
        var path = await KeyAsync(root, "admin_ed25519", "ed25519", Passphrase);
        var nodes = root.Write("nodes", $"web1 {Ed25519PrivateKey.Generate().PublicKey}\n");

        var run = await Bastionctl.RunAsync(
            ["fleet", "send", "--servers", "nats://127.0.0.1:9", "--nodes", nodes, "--key", path, "web1", "status"],
            workingDirectory: null, environment: new Dictionary<string, string> { ["SSH_AUTH_SOCK"] = "" });

        Assert.True(run.ExitCode == 1, run.ToString());
        Assert.Contains("protected by a passphrase", run.Stderr, StringComparison.Ordinal);
        Assert.Contains($"ssh-add {path}", run.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("Exception", run.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", run.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Fleet_send_with_a_key_the_agent_does_not_hold_names_the_key_and_how_to_add_it()
    {
        using var root = new TempRoot("agent-missing-");
        await using var agent = await SshAgent.StartAsync(output);
        var held = await KeyAsync(root, "other_ed25519", "ed25519", null);
        await agent.AddAsync(held, null);
        var path = await KeyAsync(root, "admin_ed25519", "ed25519", Passphrase);
        var nodes = root.Write("nodes", $"web1 {Ed25519PrivateKey.Generate().PublicKey}\n");
        var env = new Dictionary<string, string> { ["SSH_AUTH_SOCK"] = agent.Socket };

        var run = await Bastionctl.RunAsync(["fleet", "send", "--servers", "nats://127.0.0.1:9", "--nodes", nodes, "--key", path, "web1", "status"], null, env);

        Assert.True(run.ExitCode == 1, run.ToString());
        Assert.Contains("ssh-agent does not hold the key of", run.Stderr, StringComparison.Ordinal);
        Assert.Contains(SshPublicKey.ParseText(File.ReadAllText(path + ".pub")).Fingerprint, run.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("Exception", run.Stderr, StringComparison.Ordinal);

        // A dead agent socket is an error too, not a hang or a stack trace.
        var gone = await Bastionctl.RunAsync(["fleet", "send", "--servers", "nats://127.0.0.1:9", "--nodes", nodes, "--key", path, "web1", "status"], null,
            new Dictionary<string, string> { ["SSH_AUTH_SOCK"] = root.File("no-such-agent.sock") });
        Assert.True(gone.ExitCode == 1, gone.ToString());
        Assert.Contains("cannot reach ssh-agent", gone.Stderr, StringComparison.Ordinal);
    }
}
