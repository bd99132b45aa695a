namespace Bastion.Fleet;

/// <summary>Why a fleet message was accepted or refused. Every refusal is a SECURITY log line; words are made at the edge.</summary>
public enum FleetOutcome
{
    Accepted,
    /// <summary>Not an envelope, or signed content that does not decode.</summary>
    Malformed,
    /// <summary>Encrypted to another key (a misrouted message, or its recipient stanza was altered).</summary>
    NotRecipient,
    /// <summary>The ciphertext or header was altered (AEAD failure).</summary>
    Tampered,
    /// <summary>Encrypted to this node but carries no signature.</summary>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Naming", "CA1720", Justification = "the outcome's name in the issue and the SECURITY log")]
    Unsigned,
    /// <summary>The signature does not verify (altered before encryption, wrong namespace, unsupported algorithm).</summary>
    BadSignature,
    /// <summary>A valid signature by a key allowed_signers (or the node list) does not admit.</summary>
    UnknownSigner,
    /// <summary>Signed and valid, but addressed to another node.</summary>
    WrongNode,
    Expired,
    NotYetValid,
    /// <summary>A command whose nonce was already accepted.</summary>
    Replayed,
    /// <summary>The replay cache is full of unexpired nonces: refused rather than forgetting one (fails closed).</summary>
    ReplayCacheFull,
}

/// <summary>The result of opening: the message only when accepted; the signer's fingerprint whenever a signature parsed.</summary>
public sealed record FleetOpened<T>(FleetOutcome Outcome, T? Message, string? SignerFingerprint, SignerVerdict? Signer)
    where T : class
{
    public bool Accepted => Outcome == FleetOutcome.Accepted;
}

/// <summary>What the replay cache says about a nonce.</summary>
public enum ReplayVerdict
{
    /// <summary>First time seen: remembered until the command expires.</summary>
    Fresh,
    Replayed,
    /// <summary>No room without forgetting an unexpired nonce.</summary>
    Full,
}

/// <summary>Remembers accepted command nonces until they expire (<see cref="ReplayCache"/> in production).</summary>
public interface IReplayGuard
{
    ReplayVerdict TryAccept(ReadOnlySpan<byte> nonce, DateTimeOffset expiresAt);
}

/// <summary>
/// Sign-then-encrypt for fleet messages (docs/fleet-envelope.md). The plaintext inside the envelope is
/// <c>string payload || string sshsig</c>; the SSHSIG (namespace bastion-fleet@v1) covers the payload, whose first field
/// names its type, so a status cannot be passed off as a command.
/// </summary>
public static class FleetSeal
{
    /// <summary>How far a command's issue time may be ahead of the node's clock.</summary>
    public static readonly TimeSpan ClockSkew = TimeSpan.FromMinutes(2);

    /// <summary>An admin seals a command for a node: signed with the admin's ssh-ed25519 key, encrypted to the node's key.</summary>
    public static byte[] SealCommand(FleetCommand command, Ed25519PrivateKey admin, SshPublicKey node)
    {
        ArgumentNullException.ThrowIfNull(command);
        var payload = command.Encode();
        return SealSigned(payload, SshSignature.Sign(admin, payload), [node]);
    }

    /// <summary>Seals a payload with a signature made elsewhere (ssh-keygen -Y sign, an agent): any key type allowed_signers accepts.</summary>
    public static byte[] SealSigned(ReadOnlySpan<byte> payload, SshSignature? signature, IReadOnlyList<SshPublicKey> recipients) =>
        SealSigned(payload, signature, recipients, System.Security.Cryptography.RandomNumberGenerator.Fill);

    internal static byte[] SealSigned(ReadOnlySpan<byte> payload, SshSignature? signature, IReadOnlyList<SshPublicKey> recipients, SpanAction random)
    {
        ArgumentNullException.ThrowIfNull(recipients);
        var plaintext = new SshWriter().WriteString(payload).WriteString(signature is null ? [] : signature.Blob).ToArray();
        return FleetEnvelope.Seal(plaintext, [.. recipients.Select(FleetKeys.X25519Public)], random);
    }

    /// <summary>A node seals its status or a reply: signed with the node key, encrypted to every admin's ssh-ed25519 key.</summary>
    public static byte[] SealReport(FleetReport report, Ed25519PrivateKey nodeKey, IReadOnlyList<SshPublicKey> admins)
    {
        ArgumentNullException.ThrowIfNull(report);
        var payload = report.Encode();
        return SealSigned(payload, SshSignature.Sign(nodeKey, payload), admins);
    }

    /// <summary>
    /// A node opens a command: decrypt, verify the signature against allowed_signers (as ssh-keygen -Y find-principals
    /// then -Y verify), then addressee, validity window, and last the replay cache (so nothing unauthenticated enters it).
    /// </summary>
    public static FleetOpened<FleetCommand> OpenCommand(
        ReadOnlySpan<byte> envelope, string node, Ed25519PrivateKey nodeKey, AllowedSigners signers, IReplayGuard replay, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(signers);
        ArgumentNullException.ThrowIfNull(replay);
        var (outcome, payload, signature) = Unwrap(envelope, nodeKey);
        if (outcome != FleetOutcome.Accepted)
        {
            return new(outcome, null, signature?.PublicKey.Fingerprint, null);
        }
        var verdict = signers.VerifyAnyPrincipal(signature!, payload, SshSignature.FleetNamespace, now);
        if (!verdict.Accepted)
        {
            var refusal = verdict.Outcome == SignerOutcome.BadSignature ? FleetOutcome.BadSignature : FleetOutcome.UnknownSigner;
            return new(refusal, null, verdict.Fingerprint, verdict);
        }
        var command = FleetCommand.Decode(payload);
        if (command is null)
        {
            return new(FleetOutcome.Malformed, null, verdict.Fingerprint, verdict);
        }
        var window = Window(command.IssuedAt, command.ExpiresAt, now);
        if (!string.Equals(command.Node, node, StringComparison.Ordinal))
        {
            window = FleetOutcome.WrongNode;
        }
        else if (window == FleetOutcome.Accepted)
        {
            window = replay.TryAccept(command.Nonce, command.ExpiresAt) switch
            {
                ReplayVerdict.Fresh => FleetOutcome.Accepted,
                ReplayVerdict.Replayed => FleetOutcome.Replayed,
                _ => FleetOutcome.ReplayCacheFull,
            };
        }
        return new(window, window == FleetOutcome.Accepted ? command : null, verdict.Fingerprint, verdict);
    }

    /// <summary>
    /// An admin opens a node's status or reply: decrypt with the admin's key, and accept only a signature by
    /// <paramref name="nodeKey"/> (the node list's key for <paramref name="node"/>) on a report from that node, still valid.
    /// </summary>
    public static FleetOpened<FleetReport> OpenReport(
        ReadOnlySpan<byte> envelope, string node, SshPublicKey nodeKey, Ed25519PrivateKey adminKey, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(nodeKey);
        var (outcome, payload, signature) = Unwrap(envelope, adminKey);
        if (outcome != FleetOutcome.Accepted)
        {
            return new(outcome, null, signature?.PublicKey.Fingerprint, null);
        }
        var fingerprint = signature!.PublicKey.Fingerprint;
        var check = signature.Check(payload, SshSignature.FleetNamespace);
        if (check != SshSignatureCheck.Valid)
        {
            return new(FleetOutcome.BadSignature, null, fingerprint, null);
        }
        if (!signature.PublicKey.Equals(nodeKey))
        {
            return new(FleetOutcome.UnknownSigner, null, fingerprint, null);
        }
        var report = FleetReport.Decode(payload);
        if (report is null)
        {
            return new(FleetOutcome.Malformed, null, fingerprint, null);
        }
        var window = string.Equals(report.Node, node, StringComparison.Ordinal) ? Window(report.IssuedAt, report.ExpiresAt, now) : FleetOutcome.WrongNode;
        return new(window, window == FleetOutcome.Accepted ? report : null, fingerprint, null);
    }

    private static FleetOutcome Window(DateTimeOffset issued, DateTimeOffset expires, DateTimeOffset now) =>
        now < issued - ClockSkew ? FleetOutcome.NotYetValid
        : now > expires ? FleetOutcome.Expired
        : FleetOutcome.Accepted;

    private static (FleetOutcome Outcome, byte[] Payload, SshSignature? Signature) Unwrap(ReadOnlySpan<byte> envelope, Ed25519PrivateKey key)
    {
        ArgumentNullException.ThrowIfNull(key);
        var secret = FleetKeys.X25519Private(key);
        var opened = FleetEnvelope.Open(envelope, secret, out var plaintext);
        System.Security.Cryptography.CryptographicOperations.ZeroMemory(secret);
        switch (opened)
        {
            case EnvelopeOutcome.Malformed:
                return (FleetOutcome.Malformed, [], null);
            case EnvelopeOutcome.NotRecipient:
                return (FleetOutcome.NotRecipient, [], null);
            case EnvelopeOutcome.Tampered:
                return (FleetOutcome.Tampered, [], null);
        }
        try
        {
            var reader = new SshReader(plaintext);
            var payload = reader.ReadString().ToArray();
            var blob = reader.ReadString();
            reader.ExpectEnd();
            if (blob.Length == 0)
            {
                return (FleetOutcome.Unsigned, [], null);
            }
            var signature = SshSignature.TryParse(blob);
            return signature is null ? (FleetOutcome.Malformed, [], null) : (FleetOutcome.Accepted, payload, signature);
        }
        catch (SshFormatException)
        {
            return (FleetOutcome.Malformed, [], null);
        }
    }
}
