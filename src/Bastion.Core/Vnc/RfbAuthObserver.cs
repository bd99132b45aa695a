using Bastion.Tls;

namespace Bastion.Vnc;

/// <summary>Where an observed RFB handshake got to.</summary>
public enum RfbAuthOutcome
{
    /// <summary>Still in the handshake.</summary>
    Pending,

    /// <summary>SecurityResult 0: the client knew the VNC password.</summary>
    Succeeded,

    /// <summary>SecurityResult non-zero (wrong VNC password), or the server refused the security handshake.</summary>
    Failed,

    /// <summary>Not an RFB handshake this observer understands (it stops looking; the relay carries on untouched).</summary>
    Unknown,
}

/// <summary>
/// Watches the start of a relayed RFB connection (both directions, bytes as they pass) to learn whether the client passed
/// VNC authentication, so the TLS endpoint can log a wrong VNC password with the client certificate that sent it and
/// count it against the address's failure limit. Understands RFB 3.3, 3.7 and 3.8 with security type 2 (and type 1,
/// None, as a success). Never changes the bytes; stops looking once <see cref="Outcome"/> is not Pending.
/// </summary>
public sealed class RfbAuthObserver : IRelayObserver
{
    public RfbAuthOutcome Outcome => throw new NotImplementedException();

    /// <summary>For Failed: the server's reason string (printable, shortened) or what went wrong; otherwise null.</summary>
    public string? FailureReason => throw new NotImplementedException();

    public bool Watching => Outcome == RfbAuthOutcome.Pending;

    /// <summary>Bytes the TLS client (the admin's viewer) sent towards the server.</summary>
    public void FromTls(ReadOnlySpan<byte> data) => throw new NotImplementedException();

    /// <summary>Bytes the server (Xvnc) sent towards the client.</summary>
    public void FromPlain(ReadOnlySpan<byte> data) => throw new NotImplementedException();
}
