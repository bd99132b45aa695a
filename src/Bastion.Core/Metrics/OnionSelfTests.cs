using System.Globalization;

namespace Bastion.Metrics;

/// <summary>
/// Remembers each onion service's last passed self-test. The onion component shows the time of its last self-test
/// (detail <c>lastSelfTest</c>) and <c>state: reachable</c> while the last one passed; a later failed one replaces the
/// state, so the time of the last success is kept here from scrape to scrape. A success and a failure both between two
/// scrapes are seen as the failure only: self-tests run minutes apart, scrapes seconds apart.
/// </summary>
public sealed class OnionSelfTests
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, DateTimeOffset> _lastSuccess = new(StringComparer.Ordinal);

    /// <summary>Looks at the onion components of one scrape; returns the last success of each (names no longer configured are forgotten).</summary>
    public IReadOnlyDictionary<string, DateTimeOffset> Observe(IEnumerable<ComponentReading> components)
    {
        lock (_gate)
        {
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var c in components.Where(c => c.Kind == BastionSeries.OnionKind))
            {
                seen.Add(c.Name);
                if (c.Details.TryGetValue("state", out var state) && state == "reachable"
                    && c.Details.TryGetValue("lastSelfTest", out var at)
                    && DateTimeOffset.TryParse(at, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out var when)
                    && (!_lastSuccess.TryGetValue(c.Name, out var known) || when > known))
                {
                    _lastSuccess[c.Name] = when;
                }
            }
            foreach (var gone in _lastSuccess.Keys.Where(k => !seen.Contains(k)).ToList())
            {
                _lastSuccess.Remove(gone);
            }
            return new Dictionary<string, DateTimeOffset>(_lastSuccess, StringComparer.Ordinal);
        }
    }
}
