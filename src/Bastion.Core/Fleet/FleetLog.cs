using Microsoft.Extensions.Logging;

namespace Bastion.Fleet;

/// <summary>
/// The fleet's log lines. A refused message is a SECURITY line with the outcome, the signer's fingerprint and principals
/// when a signature parsed, and the allowed_signers reason; never a key, a nonce or the plaintext.
/// </summary>
public static partial class FleetLog
{
    [LoggerMessage(EventId = LogEvents.FleetCommandAccepted, Level = LogLevel.Information, Message = "fleet: command '{Command}' accepted, signed by {Signer} ({Principals})")]
    private static partial void CommandAccepted(ILogger logger, string command, string signer, string principals);

    [LoggerMessage(EventId = LogEvents.FleetMessageRefused, Level = LogLevel.Warning, Message = "SECURITY fleet: {Kind} refused: {Outcome}{Detail}; signer {Signer}; not executed")]
    private static partial void Refused(ILogger logger, string kind, FleetOutcome outcome, string detail, string signer);

    /// <summary>Refusals of one outcome after the first in an interval, counted instead of logged one by one.</summary>
    [LoggerMessage(EventId = LogEvents.FleetMessagesRefusedRepeatedly, Level = LogLevel.Warning, Message = "SECURITY fleet: {Count} more commands refused as {Outcome} in the last {Seconds}s (not logged one by one); none executed")]
    public static partial void RefusedRepeats(ILogger logger, int count, string outcome, int seconds);

    [LoggerMessage(EventId = LogEvents.FleetReplayCacheNotPersisted, Level = LogLevel.Warning, Message = "fleet: the replay cache could not be written ({Error}); accepted commands are remembered until a restart only — check the state directory")]
    public static partial void ReplayCacheNotPersisted(ILogger logger, string error);

    /// <summary>One line per opened command: accepted (information) or refused (SECURITY warning).</summary>
    public static void Command(ILogger logger, FleetOpened<FleetCommand> opened)
    {
        ArgumentNullException.ThrowIfNull(opened);
        if (opened.Accepted)
        {
            CommandAccepted(logger, opened.Message!.Command, opened.SignerFingerprint ?? "?", opened.Signer?.Principals ?? "");
        }
        else
        {
            Refused(logger, "command", opened.Outcome, Detail(opened.Signer), opened.SignerFingerprint ?? "unknown (no signature parsed)");
        }
    }

    /// <summary>The allowed_signers reason behind UnknownSigner / BadSignature, in words (made here, at the edge).</summary>
    private static string Detail(SignerVerdict? verdict) => verdict switch
    {
        null => "",
        { Outcome: SignerOutcome.BadSignature } => $" ({verdict.Check})",
        { Outcome: SignerOutcome.UnknownSigner } => " (key not in allowed_signers)",
        { Outcome: SignerOutcome.NamespaceNotAllowed } => $" (allowed_signers line {verdict.Line} does not allow namespace {SshSignature.FleetNamespace})",
        { Outcome: SignerOutcome.NotYetValid } => $" (allowed_signers line {verdict.Line} or the certificate is not valid yet)",
        { Outcome: SignerOutcome.Expired } => $" (allowed_signers line {verdict.Line} or the certificate has expired)",
        { Outcome: SignerOutcome.CertificateNotAuthorized } => $" (the certificate from the CA on allowed_signers line {verdict.Line} does not authorise it)",
        { Principals: { } principals } => $" (principals {principals})",
        _ => "",
    };
}
