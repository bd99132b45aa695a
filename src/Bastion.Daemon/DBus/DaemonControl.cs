using Bastion.Daemon.Vnc;
using Bastion.Supervision;

namespace Bastion.Daemon.DBus;

/// <summary>The outcome of a reload: applied, or refused with every config error (the last good config keeps running).</summary>
internal sealed record ReloadOutcome(bool Applied, IReadOnlyList<string> Errors);

/// <summary>
/// What the D-Bus API asks of the daemon's control loop. Requests are queued to the loop (the one owner of the component
/// set) and answered through the completion source; false when the loop no longer takes requests (stopping).
/// </summary>
internal interface IDaemonControl
{
    /// <summary>Completes with the new instance id, or null when there is no such component (any more).</summary>
    bool RequestRestart(ComponentId id, TaskCompletionSource<string?> done);

    bool RequestReload(TaskCompletionSource<ReloadOutcome> done);

    /// <summary>
    /// Hands an admin's command to the emergency desktop (the component of kind "vnc"). Completes with its outcome; null
    /// when there is no such component (vnc.mode off); faulted with a <see cref="VncUnavailableException"/> when the
    /// component exists but cannot take commands (it could not even be created: its state says why).
    /// </summary>
    bool RequestVncControl(VncCommand command, TaskCompletionSource<VncCommandOutcome?> done);
}

/// <summary>The VNC component exists but cannot take a command now; the message says why, for the caller.</summary>
internal sealed class VncUnavailableException(string message) : Exception(message);
