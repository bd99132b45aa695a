namespace Bastion.Supervision;

/// <summary>
/// What a reload does: only added, removed and changed components are touched; <see cref="Updated"/> ones keep their
/// instance and take a new policy live (see <see cref="ILivePolicy"/>).
/// </summary>
public sealed record ReloadPlan(
    IReadOnlyList<ComponentId> Added,
    IReadOnlyList<ComponentId> Removed,
    IReadOnlyList<ComponentId> Changed,
    IReadOnlyList<ComponentId> Unchanged)
{
    /// <summary>Components whose spec differs only in its <see cref="ComponentSpec.Policy"/>: updated in place.</summary>
    public IReadOnlyList<ComponentId> Updated { get; init; } = [];

    public bool IsEmpty => Added.Count == 0 && Removed.Count == 0 && Changed.Count == 0 && Updated.Count == 0;

    /// <summary>Compares the running specs with the desired ones by id, then by value.</summary>
    public static ReloadPlan Diff(IReadOnlyList<ComponentSpec> current, IReadOnlyList<ComponentSpec> desired)
    {
        var byId = current.ToDictionary(s => s.Id);
        var desiredIds = desired.Select(s => s.Id).ToHashSet();
        var added = new List<ComponentId>();
        var changed = new List<ComponentId>();
        var unchanged = new List<ComponentId>();
        var updated = new List<ComponentId>();
        foreach (var spec in desired)
        {
            if (!byId.TryGetValue(spec.Id, out var old))
            {
                added.Add(spec.Id);
            }
            else if (old.Equals(spec))
            {
                unchanged.Add(spec.Id);
            }
            else if (old.SameExceptPolicy(spec))
            {
                updated.Add(spec.Id);
            }
            else
            {
                changed.Add(spec.Id);
            }
        }
        var removed = current.Where(s => !desiredIds.Contains(s.Id)).Select(s => s.Id).ToList();
        return new ReloadPlan(added, removed, changed, unchanged) { Updated = updated };
    }

    public override string ToString() =>
        Updated.Count == 0
            ? $"{Added.Count} added, {Removed.Count} removed, {Changed.Count} changed, {Unchanged.Count} unchanged"
            : $"{Added.Count} added, {Removed.Count} removed, {Changed.Count} changed, {Updated.Count} updated live, {Unchanged.Count} unchanged";
}
