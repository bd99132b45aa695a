using System.Collections.Concurrent;
using Bastion.Daemon.Checks;
using Bastion.Metrics;
using Bastion.Supervision;

namespace Bastion.Daemon.Metrics;

/// <summary>
/// Reads what a scrape exports from what the daemon already keeps centrally: the supervisor's components (state, since,
/// starts, details; read live, so counters are as fresh as the components' last detail update), every check's probe
/// outcomes (<see cref="CheckResults"/>, subscribed so that no passed probe between two scrapes is missed), and the
/// outcome of the last reload, which the control loop reports here. Safe to call from several scrapes at once.
/// </summary>
internal sealed class MetricsSource : IDisposable
{
    private readonly Supervisor _supervisor;
    private readonly CheckResults _checks;
    private readonly DateTimeOffset _startedAt;
    private readonly OnionSelfTests _onion = new();
    private readonly Lock _gate = new();
    private readonly Dictionary<string, IDisposable> _checkSubscriptions = new(StringComparer.Ordinal);
    // Written by the checks' threads without the gate: a subscription's delivery lock is held then, and Dispose takes it under the gate.
    private readonly ConcurrentDictionary<string, DateTimeOffset> _checkLastSuccess = new(StringComparer.Ordinal);
    private ReloadReading _reload;
    private volatile bool _includeAddresses;
    private bool _disposed;

    public MetricsSource(Supervisor supervisor, CheckResults checks, DateTimeOffset startedAt)
    {
        _supervisor = supervisor;
        _checks = checks;
        _startedAt = startedAt;
        _reload = new ReloadReading(true, startedAt);
    }

    public bool IncludeAddresses
    {
        get => _includeAddresses;
        set => _includeAddresses = value;
    }

    public void ReloadApplied(DateTimeOffset at)
    {
        lock (_gate)
        {
            _reload = new ReloadReading(true, at);
        }
    }

    public void ReloadRefused()
    {
        lock (_gate)
        {
            _reload = _reload with { LastSuccessful = false };
        }
    }

    public MetricsReading Read()
    {
        var components = _supervisor.Components.Select(c =>
        {
            var state = c.State;
            return new ComponentReading(c.Id.Kind, c.Id.Name, state.State, state.Since, c.Starts, c.Details);
        }).ToList();
        ReloadReading reload;
        Dictionary<string, DateTimeOffset> checkLastSuccess;
        lock (_gate)
        {
            TrackChecks(components);
            reload = _reload;
            checkLastSuccess = new Dictionary<string, DateTimeOffset>(_checkLastSuccess, StringComparer.Ordinal);
        }
        return new MetricsReading
        {
            Version = DaemonVersion.Text,
            StartedAt = _startedAt,
            Components = components,
            Reload = reload,
            CheckLastSuccess = checkLastSuccess,
            OnionLastSelfTestSuccess = _onion.Observe(components),
            IncludeAddresses = _includeAddresses,
        };
    }

    /// <summary>Subscribes to checks that appeared (the last result is replayed at once) and forgets removed ones. Under the gate.</summary>
    private void TrackChecks(List<ComponentReading> components)
    {
        if (_disposed)
        {
            return;
        }
        var names = components.Where(c => c.Kind == BastionSeries.CheckKind).Select(c => c.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var gone in _checkSubscriptions.Keys.Where(n => !names.Contains(n)).ToList())
        {
            _checkSubscriptions[gone].Dispose();
            _checkSubscriptions.Remove(gone);
            _checkLastSuccess.TryRemove(gone, out _);
        }
        foreach (var name in names.Where(n => !_checkSubscriptions.ContainsKey(n)))
        {
            // The handler runs on the probing check's thread (and once here, for the replayed last result).
            _checkSubscriptions[name] = _checks.Subscribe(name, result =>
            {
                if (result.Ok)
                {
                    _checkLastSuccess.AddOrUpdate(result.Check, result.At, (_, known) => result.At > known ? result.At : known);
                }
            });
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _disposed = true;
            foreach (var subscription in _checkSubscriptions.Values)
            {
                subscription.Dispose();
            }
            _checkSubscriptions.Clear();
        }
    }
}
