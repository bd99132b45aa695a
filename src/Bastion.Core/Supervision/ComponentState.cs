namespace Bastion.Supervision;

/// <summary>
/// Where a supervised component is. Every state carries a reason (<see cref="StateRecord"/>): status,
/// logs, STATUS= and D-Bus all show it.
/// </summary>
public enum ComponentState
{
    /// <summary>An attempt is in progress and has not reported itself up yet.</summary>
    Starting,

    /// <summary>Up and doing its job.</summary>
    Running,

    /// <summary>Up, but impaired (e.g. a probe failed, fewer times than the threshold).</summary>
    Degraded,

    /// <summary>The last attempt failed; the supervisor restarts it after a jittered delay (the reason says when).</summary>
    Backoff,

    /// <summary>Being stopped on request (reload, shutdown).</summary>
    Stopping,

    /// <summary>Stopped on request; the reason says by whom.</summary>
    Stopped,

    /// <summary>
    /// Not working, and the supervisor has no restart scheduled: either the component keeps watching and will
    /// recover by itself (a check whose target is down), or it cannot run until the config changes. The reason says which.
    /// </summary>
    Failed,

    /// <summary>
    /// Deliberately idle until something raises it, and healthy while it waits: the emergency VNC desktop and its TLS
    /// endpoint while sshd answers (vnc.mode fallback), or while an admin has lowered them. The reason says what raises it.
    /// Not a problem: the summary counts it apart from "up" and never names it as the first problem.
    /// </summary>
    Standby,
}

/// <summary>A state, why the component is in it, and since when.</summary>
public sealed record StateRecord(ComponentState State, string Reason, DateTimeOffset Since);

/// <summary>Identifies a component across reloads: its kind (<c>check</c>, <c>tunnel</c>, …) and its configured name.</summary>
public readonly record struct ComponentId(string Kind, string Name)
{
    public override string ToString() => Kind + "/" + Name;
}

/// <summary>
/// Thrown by a component to end the current attempt with a reason an admin can act on
/// ("authentication rejected", "remote port busy"); the supervisor backs off and restarts it.
/// Any other exception is treated the same, but reported as a crash with its type.
/// </summary>
public class ComponentFailureException : Exception
{
    public ComponentFailureException(string reason) : base(reason) { }
    public ComponentFailureException(string reason, Exception inner) : base(reason, inner) { }
    public ComponentFailureException() { }
}
