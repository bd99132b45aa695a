using Bastion.Fleet;

namespace Bastion.Cli;

/// <summary>
/// The admin's signing key for <c>fleet send</c>: an unencrypted ssh-ed25519 private key file, or a key held by ssh-agent
/// (SSH_AUTH_SOCK) — named by its public key file, by a passphrase-protected private key file whose public half the agent
/// holds, or, with <c>--agent</c> and no <c>--key</c>, the agent's only key. An agent signs but cannot decrypt, so
/// <see cref="ReplyKey"/> (what opens the node's reply) is there only when the private key file itself is readable.
/// Bastion never asks for a passphrase.
/// </summary>
internal sealed class FleetSigner : IDisposable
{
    private static readonly TimeSpan AgentTimeout = TimeSpan.FromSeconds(30);

    private readonly SshAgentClient? _agent;

    private FleetSigner(SshPublicKey key, Ed25519PrivateKey? privateKey, SshAgentClient? agent)
    {
        Key = key;
        ReplyKey = privateKey;
        _agent = agent;
    }

    /// <summary>The public key commands are signed with (what the node's allowed_signers must list).</summary>
    public SshPublicKey Key { get; }

    /// <summary>The private key that opens replies; null when the key lives only in ssh-agent.</summary>
    public Ed25519PrivateKey? ReplyKey { get; }

    /// <summary>Whether signing goes through ssh-agent.</summary>
    public bool ThroughAgent => _agent is not null;

    public SshSignature Sign(ReadOnlySpan<byte> payload)
    {
        if (_agent is null)
        {
            return SshSignature.Sign(ReplyKey!, payload);
        }
        try
        {
            return SshSignature.SignWith(Key, data => _agent.Sign(Key, data), payload);
        }
        catch (SshAgentException e)
        {
            throw new CommandException(ExitCodes.Failed, e.Message);
        }
        catch (SshFormatException e)
        {
            throw new CommandException(ExitCodes.Failed, $"ssh-agent's signature with {Key.Fingerprint} is not usable: {e.Message}");
        }
    }

    /// <param name="path">--key, or null for the default (~/.ssh/id_ed25519, or with --agent the agent's only key).</param>
    /// <param name="useAgent">--agent: sign through the agent even when the private key file is readable.</param>
    /// <param name="agentSocket">SSH_AUTH_SOCK.</param>
    public static FleetSigner Open(string? path, bool useAgent, string? agentSocket)
    {
        if (path is null && useAgent)
        {
            return FromAgent(null, agentSocket, "the key you name");
        }
        path ??= FleetStatusCommand.DefaultKeyPath;
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CommandException(ExitCodes.Failed, $"cannot read your key {path}: {e.Message} — pass --key FILE (your private key, or its .pub when the key is in ssh-agent)");
        }
        if (TryParsePublic(text) is { } publicKey)
        {
            return FromAgent(publicKey, agentSocket, path);
        }
        if (OpenSshKeyFile.ReadHeader(text) is not var (filePublic, encrypted))
        {
            // Not an OpenSSH key at all: the private key parser says why, with the fix.
            using var _ = FleetStatusCommand.LoadAdminKey(path);
            throw new CommandException(ExitCodes.Failed, $"{path}: not an OpenSSH key");
        }
        if (encrypted)
        {
            if (string.IsNullOrEmpty(agentSocket))
            {
                throw new CommandException(ExitCodes.Failed,
                    $"{path} is protected by a passphrase and bastionctl never asks for one: load it into ssh-agent " +
                    $"(`eval $(ssh-agent)` then `ssh-add {path}`) and run this again — bastionctl then signs through the agent");
            }
            return FromAgent(filePublic, agentSocket, path);
        }
        var privateKey = filePublic.Kind == SshKeyKind.Ed25519 ? FleetStatusCommand.LoadAdminKey(path) : null;
        if (!useAgent)
        {
            return privateKey is not null
                ? new FleetSigner(privateKey.PublicKey, privateKey, null)
                : throw new CommandException(ExitCodes.Failed,
                    $"{path} is a {filePublic.Type} key: bastionctl signs with such keys only through ssh-agent (`ssh-add {path}`, then pass --agent)");
        }
        try
        {
            var signer = FromAgent(filePublic, agentSocket, path);
            return new FleetSigner(signer.Key, privateKey, signer._agent);
        }
        catch
        {
            privateKey?.Dispose();
            throw;
        }
    }

    private static FleetSigner FromAgent(SshPublicKey? wanted, string? agentSocket, string named)
    {
        SshAgentClient agent;
        IReadOnlyList<(SshPublicKey Key, string Comment)> identities;
        try
        {
            agent = SshAgentClient.Connect(agentSocket, AgentTimeout);
        }
        catch (SshAgentException e)
        {
            throw new CommandException(ExitCodes.Failed, $"{named} needs ssh-agent: {e.Message}");
        }
        try
        {
            identities = agent.Identities();
        }
        catch (SshAgentException e)
        {
            agent.Dispose();
            throw new CommandException(ExitCodes.Failed, e.Message);
        }
        if (wanted is null)
        {
            if (identities.Count == 1)
            {
                return new FleetSigner(identities[0].Key, null, agent);
            }
            agent.Dispose();
            throw new CommandException(ExitCodes.Failed, identities.Count == 0
                ? "ssh-agent holds no key: add yours with `ssh-add FILE`"
                : $"ssh-agent holds {identities.Count} keys ({string.Join(", ", identities.Select(i => i.Key.Fingerprint))}): name yours with --key FILE (its .pub is enough)");
        }
        if (!identities.Any(i => i.Key.Equals(wanted)))
        {
            agent.Dispose();
            throw new CommandException(ExitCodes.Failed,
                $"ssh-agent does not hold the key of {named} ({wanted.Type} {wanted.Fingerprint}): add it with `ssh-add` (the private key file), then run this again");
        }
        return new FleetSigner(wanted, null, agent);
    }

    private static SshPublicKey? TryParsePublic(string text)
    {
        var line = text.Trim();
        if (line.Contains('\n', StringComparison.Ordinal) || line.StartsWith("-----", StringComparison.Ordinal))
        {
            return null;
        }
        try
        {
            return SshPublicKey.ParseText(line);
        }
        catch (SshFormatException)
        {
            return null;
        }
    }

    public void Dispose()
    {
        ReplyKey?.Dispose();
        _agent?.Dispose();
    }
}
