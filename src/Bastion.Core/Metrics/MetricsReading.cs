using Bastion.Supervision;

namespace Bastion.Metrics;

/// <summary>One component as the supervisor shows it at scrape time (the same fields status.json has).</summary>
public sealed record ComponentReading(
    string Kind, string Name, ComponentState State, DateTimeOffset Since, long Starts, IReadOnlyDictionary<string, string> Details);

/// <summary>
/// The outcome of the last reload: <paramref name="LastSuccessful"/> is true at start (the config was loaded) and after a
/// reload that was applied, false after a refused one; <paramref name="LastSuccessAt"/> is when the running config was loaded.
/// </summary>
public sealed record ReloadReading(bool LastSuccessful, DateTimeOffset LastSuccessAt);

/// <summary>Everything one scrape is made from: read once, so every series of a scrape agrees.</summary>
public sealed record MetricsReading
{
    public required string Version { get; init; }
    public required DateTimeOffset StartedAt { get; init; }
    public required IReadOnlyList<ComponentReading> Components { get; init; }
    public required ReloadReading Reload { get; init; }

    /// <summary>Each check's last passed probe since bastiond started (checks that never passed are absent).</summary>
    public IReadOnlyDictionary<string, DateTimeOffset> CheckLastSuccess { get; init; } = new Dictionary<string, DateTimeOffset>();

    /// <summary>Each onion service's last passed self-test through tor (see <see cref="OnionSelfTests"/>).</summary>
    public IReadOnlyDictionary<string, DateTimeOffset> OnionLastSelfTestSuccess { get; init; } = new Dictionary<string, DateTimeOffset>();

    /// <summary><c>metrics.includeAddresses</c>.</summary>
    public bool IncludeAddresses { get; init; }
}
