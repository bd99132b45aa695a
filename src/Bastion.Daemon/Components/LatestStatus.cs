using Bastion.Status;

namespace Bastion.Daemon.Components;

/// <summary>
/// The daemon's last published status snapshot (what status.json and D-Bus show), handed to components that report it
/// elsewhere (the fleet link). Written by the control loop only; read from any thread.
/// </summary>
public sealed class LatestStatus
{
    private StatusSnapshot? _last;

    public StatusSnapshot? Last => Volatile.Read(ref _last);

    internal void Publish(StatusSnapshot snapshot) => Volatile.Write(ref _last, snapshot);
}
