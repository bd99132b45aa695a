namespace Bastion;

// 5000–5099: the emergency VNC desktop (vnc/desktop) and the VNC side of its TLS endpoint.
public static partial class LogEvents
{
    public const int VncRaising = 5000;
    public const int VncRaised = 5001;
    public const int VncLowering = 5002;
    public const int VncLowered = 5003;
    public const int VncCommandApplied = 5004;
    public const int VncPasswordGenerated = 5005;
    public const int VncStoppedUnderClients = 5006;
    public const int VncSessionSandboxed = 5007;
    public const int VncPolicyUpdated = 5008;
    public const int VncPolicyRefused = 5016;
    public const int VncLeftoverReclaimed = 5009;
    public const int VncXvncStarting = 5010;
    public const int VncXvncExited = 5011;
    public const int VncXvncOutput = 5012;
    public const int VncXvncStartFailed = 5013;
    public const int VncProcessKilled = 5014;
    public const int VncDisplayTaken = 5015;
    public const int VncSessionStarted = 5020;
    public const int VncSessionExited = 5021;
    public const int VncSessionStartFailed = 5022;
    public const int VncProbeChanged = 5030;
    public const int VncAuthSucceeded = 5040;
    public const int VncAuthFailed = 5041;
    public const int VncHandshakeNotFollowed = 5042;
}
