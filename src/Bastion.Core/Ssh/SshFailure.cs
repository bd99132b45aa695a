namespace Bastion.Ssh;

/// <summary>Why an SSH session or forward is not working, in classes an admin acts on differently.</summary>
public enum SshFailureKind
{
    Unreachable,
    Refused,
    TimedOut,
    HostKeyMismatch,
    AuthenticationRejected,
    RemotePortBusy,
    ForwardRejected,
    LocalPortBusy,
    ProxyFailed,
    ConnectionLost,
    NotAnswering,
    IdentityUnusable,
    Other,
}

/// <summary>A classified failure with the sentence status shows.</summary>
public sealed record SshFailure(SshFailureKind Kind, string Reason)
{
    /// <summary>
    /// Failures that retrying soon cannot fix (someone must change a key or the config) are retried only this
    /// slowly, so a wrong key does not hammer the server's logs or trip fail2ban. Null: the normal backoff.
    /// </summary>
    public TimeSpan? HoldOff => Kind switch
    {
        SshFailureKind.HostKeyMismatch => TimeSpan.FromMinutes(5),
        SshFailureKind.AuthenticationRejected or SshFailureKind.IdentityUnusable => TimeSpan.FromMinutes(1),
        _ => null,
    };

    /// <summary>Logged as a security event (a host key mismatch may be an attack).</summary>
    public bool IsSecurityEvent => Kind == SshFailureKind.HostKeyMismatch;

    public static string RemotePortBusyReason(string bind) =>
        $"remote port busy: the server refused to listen on {bind} because something already listens there — usually a stale " +
        "forward of an earlier session the server has not noticed is gone; it clears when the server drops it " +
        "(ClientAliveInterval/ClientAliveCountMax in the server's sshd_config make that happen within a minute)";

    public static string ForwardRejectedReason(string bind) =>
        $"forward rejected by server policy: the server refused to listen on {bind} (check AllowTcpForwarding, PermitListen, " +
        "GatewayPorts for non-loopback addresses, and permitlisten= in authorized_keys)";
}
