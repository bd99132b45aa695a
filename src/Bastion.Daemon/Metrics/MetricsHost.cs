using Bastion.Config;
using Bastion.Daemon.Components;
using Bastion.Supervision;
using Microsoft.Extensions.Logging;

namespace Bastion.Daemon.Metrics;

/// <summary>
/// The daemon's metrics: one <see cref="MetricsSource"/> for the daemon's life, and the endpoint <c>metrics:</c> asks for.
/// Driven by the control loop (start, each reload's config and outcome, stop), so it never races a reload.
/// A reload that changes only <c>includeAddresses</c> applies at the next scrape; one that changes <c>listen</c> rebinds.
/// </summary>
internal sealed class MetricsHost(Supervisor supervisor, DaemonRuntime runtime, TimeProvider time, ILogger logger) : IDisposable
{
    private readonly MetricsSource _source = new(supervisor, runtime.Checks, time.GetUtcNow());
    private MetricsEndpoint? _endpoint;
    private MetricsConfig? _config;

    /// <summary>Where GET /metrics is served now (null when off or not bound).</summary>
    public string? Address => _endpoint?.Address;

    public void Apply(MetricsConfig? config)
    {
        _source.IncludeAddresses = config?.IncludeAddresses ?? false;
        if (config?.Listen == _config?.Listen && (_endpoint is not null || config is null))
        {
            _config = config;
            return;
        }
        _endpoint?.Dispose();
        _endpoint = config is null ? null : MetricsEndpoint.Start(config.Listen, _source, time, logger);
        _config = config;
    }

    public void ReloadApplied() => _source.ReloadApplied(time.GetUtcNow());

    public void ReloadRefused() => _source.ReloadRefused();

    public void Dispose()
    {
        _endpoint?.Dispose();
        _endpoint = null;
        _source.Dispose();
    }
}
