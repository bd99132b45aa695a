using System.Globalization;
using Bastion.Supervision;

namespace Bastion.Status;

/// <summary>
/// The one-line summary sent as systemd STATUS= and shown first by <c>bastionctl status</c>,
/// e.g. <c>checks 1/1 up; tunnels 2/3 up — tunnel/db: Backoff (authentication rejected; retrying in 8s)</c>.
/// </summary>
public static class StatusSummary
{
    /// <summary>Display order and plural of each kind; unknown kinds follow in order of appearance.</summary>
    private static readonly string[] KindOrder = ["check", "tor", "onion", "tunnel", "tls", "vnc", "fleet"];

    /// <summary>From the component list of a status snapshot (what the daemon publishes).</summary>
    public static string Build(IEnumerable<ComponentStatus> components, int refusedReloadErrors = 0) =>
        Build(components.Select(c => (new ComponentId(c.Kind, c.Name),
            new StateRecord(Enum.Parse<ComponentState>(c.State), c.Reason, c.Since))), refusedReloadErrors);

    public static string Build(IEnumerable<(ComponentId Id, StateRecord State)> components, int refusedReloadErrors = 0)
    {
        var list = components.ToList();
        var parts = new List<string>();
        if (refusedReloadErrors > 0)
        {
            parts.Add(string.Create(CultureInfo.InvariantCulture,
                $"reload refused ({refusedReloadErrors} config error{(refusedReloadErrors == 1 ? "" : "s")}; running the last good config)"));
        }
        if (list.Count == 0)
        {
            parts.Add("nothing to supervise");
            return string.Join("; ", parts);
        }
        var kinds = list.Select(c => c.Id.Kind).Distinct(StringComparer.Ordinal)
            .OrderBy(k => Array.IndexOf(KindOrder, k) is var i && i >= 0 ? i : int.MaxValue)
            .ToList();
        foreach (var kind in kinds)
        {
            var ofKind = list.Where(c => c.Id.Kind == kind).ToList();
            var up = ofKind.Count(c => c.State.State == ComponentState.Running);
            var standby = ofKind.Count(c => c.State.State == ComponentState.Standby);
            parts.Add(standby == 0
                ? string.Create(CultureInfo.InvariantCulture, $"{Plural(kind)} {up}/{ofKind.Count} up")
                : string.Create(CultureInfo.InvariantCulture, $"{Plural(kind)} {up}/{ofKind.Count} up, {standby} standby"));
        }
        var line = string.Join("; ", parts);
        var firstProblem = kinds.SelectMany(k => list.Where(c => c.Id.Kind == k))
            .FirstOrDefault(c => c.State.State is not (ComponentState.Running or ComponentState.Stopped or ComponentState.Standby));
        if (firstProblem.Id.Kind is not null)
        {
            line += $" — {firstProblem.Id}: {firstProblem.State.State} ({firstProblem.State.Reason})";
        }
        return line;
    }

    /// <summary>How the summary names several components of a kind ("tls endpoints", not "tlss").</summary>
    private static string Plural(string kind) => kind switch
    {
        "tls" => "tls endpoints",
        "tor" or "vnc" or "fleet" => kind,
        _ => kind + "s",
    };
}
