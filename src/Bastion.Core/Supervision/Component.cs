using Bastion.Config;

namespace Bastion.Supervision;

/// <summary>
/// Something the daemon supervises (a check, a tunnel, tor, an onion service, VNC, a TLS endpoint).
/// <see cref="RunAsync"/> is one attempt: it runs until cancelled (a requested stop) or until it fails —
/// by throwing (<see cref="ComponentFailureException"/> for a reason an admin can act on) or by returning.
/// The supervisor then backs off and calls it again on the same instance; a reload that changes the
/// component's definition replaces the instance.
/// </summary>
public interface IComponent
{
    Task RunAsync(IComponentContext context, CancellationToken cancellationToken);
}

/// <summary>What a running attempt tells its supervisor. Calls from an attempt that has ended are ignored.</summary>
public interface IComponentContext
{
    TimeProvider Time { get; }

    void ReportRunning(string reason);
    void ReportDegraded(string reason);

    /// <summary>Not working, but the component keeps going by itself (e.g. a check whose target is down).</summary>
    void ReportFailed(string reason);

    /// <summary>Idle on purpose until something raises it (see <see cref="ComponentState.Standby"/>); counts as up for backoff.</summary>
    void ReportStandby(string reason);

    /// <summary>A value shown with the component's status (counters, addresses); never a secret.</summary>
    void SetDetail(string key, string value);
}

/// <summary>
/// A component whose policy (thresholds, grace periods, modes: <see cref="ComponentSpec.Policy"/>) can change while it runs.
/// A reload that changes only the policy hands it the new one instead of replacing the instance, so nothing it holds
/// (a process, a connected admin, an admin's override) is cut off for a policy change.
/// </summary>
public interface ILivePolicy
{
    /// <summary>Takes the new policy (the spec's <see cref="ComponentSpec.Policy"/>); thread-safe, quick, never throws.</summary>
    void UpdatePolicy(object policy);
}

/// <summary>
/// The declared form of a component: its id, the definition it was built from (a config record compared by
/// value) and its restart policy. Two specs are equal when a reload must not touch the running component.
/// <see cref="Policy"/>, when set, is the part of the config a running <see cref="ILivePolicy"/> component takes live:
/// specs that differ only there are <see cref="SameExceptPolicy">the same process</see> (a reload updates, not replaces).
/// </summary>
public sealed record ComponentSpec(ComponentId Id, object Definition, BackoffConfig Backoff, Func<IComponent> Create)
{
    /// <summary>Settings the running component takes live (compared by value); null = everything is in the definition.</summary>
    public object? Policy { get; init; }

    public bool Equals(ComponentSpec? other) =>
        other is not null && SameProcess(other) && Equals(Policy, other.Policy);

    /// <summary>
    /// Same id, definition and backoff, and both with a policy: a reload needs at most a <see cref="ILivePolicy.UpdatePolicy"/>.
    /// </summary>
    public bool SameExceptPolicy(ComponentSpec other) =>
        other is not null && SameProcess(other) && Policy is not null && other.Policy is not null;

    private bool SameProcess(ComponentSpec other) =>
        Id == other.Id && Definition.Equals(other.Definition) && Backoff == other.Backoff;

    public override int GetHashCode() => HashCode.Combine(Id, Definition, Backoff, Policy);
}
