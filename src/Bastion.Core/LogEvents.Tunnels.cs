namespace Bastion;

// 1000–1999: SSH tunnels
public static partial class LogEvents
{
    public const int SshSessionConnecting = 1000;
    public const int SshSessionConnected = 1001;
    public const int SshSessionFailed = 1002;
    public const int SshSessionLost = 1003;
    public const int SshSessionClosed = 1004;
    public const int SshSessionDisposeTimedOut = 1005;
    public const int SshProbeFailed = 1010;
    public const int SshPeerDead = 1011;
    public const int SshHostKeyTrusted = 1020;
    public const int SshHostKeyRejected = 1021;
    public const int SshHostKeyNotPinned = 1022;
    public const int TunnelForwarding = 1030;
    public const int TunnelForwardFailed = 1031;
    public const int TunnelEndToEndFailed = 1032;
    public const int TunnelLimitsUpdated = 1033;
    public const int TunnelRelayError = 1040;
}
