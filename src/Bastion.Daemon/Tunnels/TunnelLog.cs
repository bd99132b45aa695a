using Microsoft.Extensions.Logging;

namespace Bastion.Daemon.Tunnels;

/// <summary>Tunnel and SSH session events. Fingerprints, hosts and users only: never key material.</summary>
internal static partial class TunnelLog
{
    [LoggerMessage(EventId = LogEvents.SshSessionConnecting, Level = LogLevel.Debug, Message = "ssh {Session}: connecting")]
    public static partial void Connecting(ILogger logger, string session);

    [LoggerMessage(EventId = LogEvents.SshSessionConnected, Level = LogLevel.Information, Message = "ssh {Session}: connected ({Kex}, {Cipher}, host key {HostKey}) in {Milliseconds} ms")]
    public static partial void Connected(ILogger logger, string session, string kex, string cipher, string hostKey, long milliseconds);

    [LoggerMessage(EventId = LogEvents.SshSessionFailed, Level = LogLevel.Warning, Message = "ssh {Session}: {Reason}")]
    public static partial void ConnectFailed(ILogger logger, string session, string reason);

    [LoggerMessage(EventId = LogEvents.SshSessionLost, Level = LogLevel.Warning, Message = "ssh {Session}: session lost: {Reason}")]
    public static partial void Lost(ILogger logger, string session, string reason);

    [LoggerMessage(EventId = LogEvents.SshSessionClosed, Level = LogLevel.Information, Message = "ssh {Session}: closed (no tunnel uses it any more)")]
    public static partial void Closed(ILogger logger, string session);

    [LoggerMessage(EventId = LogEvents.SshSessionDisposeTimedOut, Level = LogLevel.Warning, Message = "ssh {Session}: closing did not finish within {Timeout}; abandoned")]
    public static partial void DisposeTimedOut(ILogger logger, string session, TimeSpan timeout);

    [LoggerMessage(EventId = LogEvents.SshProbeFailed, Level = LogLevel.Information, Message = "ssh {Session}: probe {Failures}/{Limit} failed: no answer within {Timeout}")]
    public static partial void ProbeFailed(ILogger logger, string session, int failures, int limit, TimeSpan timeout);

    [LoggerMessage(EventId = LogEvents.SshPeerDead, Level = LogLevel.Warning, Message = "ssh {Session}: peer declared dead after {Failures} failed probes; reconnecting")]
    public static partial void PeerDead(ILogger logger, string session, int failures);

    [LoggerMessage(EventId = LogEvents.SshHostKeyTrusted, Level = LogLevel.Debug, Message = "ssh {Session}: host key {Presented} trusted: {How}")]
    public static partial void HostKeyTrusted(ILogger logger, string session, Bastion.Ssh.PresentedHostKey presented, string how);

    [LoggerMessage(EventId = LogEvents.SshHostKeyRejected, Level = LogLevel.Error, Message = "SECURITY ssh {Session}: host key REFUSED: {Why}. Presented {Presented}. If the server's key really changed, verify the new fingerprint out of band (bastionctl ssh hostkey) and update hostKey in the config")]
    public static partial void HostKeyRejected(ILogger logger, string session, string why, Bastion.Ssh.PresentedHostKey presented);

    [LoggerMessage(EventId = LogEvents.SshHostKeyNotPinned, Level = LogLevel.Debug, Message = "ssh {Session}: host key {Presented} is not a trusted key; asking the server for another key type")]
    public static partial void HostKeyNotPinned(ILogger logger, string session, Bastion.Ssh.PresentedHostKey presented);

    [LoggerMessage(EventId = LogEvents.TunnelForwarding, Level = LogLevel.Information, Message = "tunnel {Tunnel}: {What}")]
    public static partial void Forwarding(ILogger logger, string tunnel, string what);

    [LoggerMessage(EventId = LogEvents.TunnelForwardFailed, Level = LogLevel.Warning, Message = "tunnel {Tunnel}: {Reason}")]
    public static partial void ForwardFailed(ILogger logger, string tunnel, string reason);

    [LoggerMessage(EventId = LogEvents.TunnelEndToEndFailed, Level = LogLevel.Information, Message = "tunnel {Tunnel}: end-to-end check {Failures}/{Limit} failed: {Reason}")]
    public static partial void EndToEndFailed(ILogger logger, string tunnel, int failures, int limit, string reason);

    [LoggerMessage(EventId = LogEvents.TunnelLimitsUpdated, Level = LogLevel.Information, Message = "tunnel {Tunnel}: limits now {Connections} connections, {PerSource} per source (open connections kept)")]
    public static partial void LimitsUpdated(ILogger logger, string tunnel, int connections, int perSource);

    [LoggerMessage(EventId = LogEvents.TunnelRelayError, Level = LogLevel.Debug, Message = "tunnel {Tunnel}: connection ended with {Error}")]
    public static partial void RelayError(ILogger logger, string tunnel, string error);
}
