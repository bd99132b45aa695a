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
}
