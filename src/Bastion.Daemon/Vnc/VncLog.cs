using Microsoft.Extensions.Logging;

namespace Bastion.Daemon.Vnc;

/// <summary>The emergency desktop's log lines. Never the VNC password, the password file's content or the X cookie.</summary>
internal static partial class VncLog
{
    [LoggerMessage(EventId = LogEvents.VncRaising, Level = LogLevel.Warning, Message = "vnc/desktop: raising the emergency desktop: {Reason}")]
    public static partial void Raising(ILogger logger, string reason);

    [LoggerMessage(EventId = LogEvents.VncRaised, Level = LogLevel.Information, Message = "vnc/desktop: desktop :{Display} {Geometry} up (Xvnc pid {Pid}); opening tls/{Endpoint}")]
    public static partial void Raised(ILogger logger, int display, string geometry, int pid, string endpoint);

    [LoggerMessage(EventId = LogEvents.VncLowering, Level = LogLevel.Information, Message = "vnc/desktop: lowering the emergency desktop: {Reason}")]
    public static partial void Lowering(ILogger logger, string reason);

    [LoggerMessage(EventId = LogEvents.VncLowered, Level = LogLevel.Information, Message = "vnc/desktop: desktop :{Display} stopped")]
    public static partial void Lowered(ILogger logger, int display);

    [LoggerMessage(EventId = LogEvents.VncCommandApplied, Level = LogLevel.Information, Message = "vnc/desktop: command {Action}: {Message}")]
    public static partial void CommandApplied(ILogger logger, string action, string message);

    [LoggerMessage(EventId = LogEvents.VncPasswordGenerated, Level = LogLevel.Information, Message = "vnc/desktop: generated a VNC password in {Path} (show it with: bastionctl vnc password)")]
    public static partial void PasswordGenerated(ILogger logger, string path);

    [LoggerMessage(EventId = LogEvents.VncStoppedUnderClients, Level = LogLevel.Warning, Message = "vnc/desktop: stopping the desktop (daemon stop, a reload that changed vnc:, or a failure) with {Clients} connected: they are cut off and the session ends")]
    public static partial void StoppedUnderClients(ILogger logger, string clients);

    [LoggerMessage(EventId = LogEvents.VncSessionSandboxed, Level = LogLevel.Warning, Message = "vnc/desktop: {Warning}")]
    public static partial void SessionSandboxed(ILogger logger, string warning);

    [LoggerMessage(EventId = LogEvents.VncPolicyUpdated, Level = LogLevel.Information, Message = "vnc/desktop: policy updated live (mode {Mode}, check {Check}, failures {Failures}, grace {Grace}); the desktop, its clients and any override are kept")]
    public static partial void PolicyUpdated(ILogger logger, string mode, string check, int failures, string grace);

    [LoggerMessage(EventId = LogEvents.VncPolicyRefused, Level = LogLevel.Error, Message = "vnc/desktop: the reloaded policy was not taken ({Why}); the previous one stays")]
    public static partial void PolicyRefused(ILogger logger, string why);

    [LoggerMessage(EventId = LogEvents.VncLeftoverReclaimed, Level = LogLevel.Warning, Message = "vnc/desktop: stopped the {What} (pid {Pid}) an earlier bastiond left running; its pid file in {Directory} and the process's start time prove it ours")]
    public static partial void LeftoverReclaimed(ILogger logger, string what, int pid, string directory);

    [LoggerMessage(EventId = LogEvents.VncDisplayTaken, Level = LogLevel.Warning, Message = "vnc/desktop: display :{Display} is taken ({Why}); trying :{Next}")]
    public static partial void DisplayTaken(ILogger logger, int display, string why, int next);

    [LoggerMessage(EventId = LogEvents.VncXvncStarting, Level = LogLevel.Information, Message = "vnc/desktop: starting {Executable} :{Display} on {Socket}")]
    public static partial void XvncStarting(ILogger logger, string executable, int display, string socket);

    [LoggerMessage(EventId = LogEvents.VncXvncExited, Level = LogLevel.Warning, Message = "vnc/desktop: Xvnc (pid {Pid}) {Exit}; probe: {Probe}; restarting in {Delay}")]
    public static partial void XvncExited(ILogger logger, int pid, string exit, string probe, string delay);

    [LoggerMessage(EventId = LogEvents.VncXvncOutput, Message = "vnc/desktop: Xvnc: {Line}")]
    public static partial void XvncOutput(ILogger logger, LogLevel level, string line);

    [LoggerMessage(EventId = LogEvents.VncXvncStartFailed, Level = LogLevel.Error, Message = "vnc/desktop: {Reason}; retrying in {Delay}")]
    public static partial void XvncStartFailed(ILogger logger, string reason, string delay);

    [LoggerMessage(EventId = LogEvents.VncProcessKilled, Level = LogLevel.Warning, Message = "vnc/desktop: {What} (pid {Pid}) ignored SIGTERM for {Wait}; sent SIGKILL")]
    public static partial void ProcessKilled(ILogger logger, string what, int pid, string wait);

    [LoggerMessage(EventId = LogEvents.VncSessionStarted, Level = LogLevel.Information, Message = "vnc/desktop: session started on :{Display} (pid {Pid}): {Command}")]
    public static partial void SessionStarted(ILogger logger, int display, int pid, string command);

    [LoggerMessage(EventId = LogEvents.VncSessionExited, Level = LogLevel.Information, Message = "vnc/desktop: session (pid {Pid}) {Exit}; starting it again in {Delay}")]
    public static partial void SessionExited(ILogger logger, int pid, string exit, string delay);

    [LoggerMessage(EventId = LogEvents.VncSessionStartFailed, Level = LogLevel.Error, Message = "vnc/desktop: {Reason}; retrying in {Delay}")]
    public static partial void SessionStartFailed(ILogger logger, string reason, string delay);

    [LoggerMessage(EventId = LogEvents.VncProbeChanged, Level = LogLevel.Information, Message = "vnc/desktop: RFB probe: {Probe}")]
    public static partial void ProbeChanged(ILogger logger, string probe);

    [LoggerMessage(EventId = LogEvents.VncAuthSucceeded, Level = LogLevel.Information, Message = "tls/{Endpoint}: VNC session opened by {Subject} serial {Serial} from {Address}")]
    public static partial void AuthSucceeded(ILogger logger, string endpoint, string subject, string serial, string address);

    [LoggerMessage(EventId = LogEvents.VncAuthFailed, Level = LogLevel.Warning, Message = "tls/{Endpoint}: VNC authentication failed for {Subject} serial {Serial} from {Address}: {Reason}")]
    public static partial void AuthFailed(ILogger logger, string endpoint, string subject, string serial, string address, string reason);

    [LoggerMessage(EventId = LogEvents.VncHandshakeNotFollowed, Level = LogLevel.Warning, Message = "tls/{Endpoint}: not an RFB handshake Bastion can follow from {Subject} serial {Serial} from {Address}; counted as a failed attempt")]
    public static partial void HandshakeNotFollowed(ILogger logger, string endpoint, string subject, string serial, string address);
}
