namespace Bastion.Config;

// metrics: the Prometheus endpoint. Absent means off.
internal sealed partial class ConfigBinder
{
    private static readonly Choices<bool> TrueFalse = new(("true", true), ("false", false));

    private MetricsConfig? BindMetrics(KeyedMapping? m)
    {
        if (m is null)
        {
            return null;
        }
        var at = RequireWithFix(m, "listen", "add it, e.g. listen: 127.0.0.1:9469 or listen: unix:/run/bastion/metrics.sock");
        var text = Text(at);
        // Port 0 (any free port) is allowed: bastiond logs the port it bound.
        var listen = text is null ? null
            : text.StartsWith("unix:", StringComparison.Ordinal) ? Backend(at)
            : Endpoint(at, localListener: true) is { } tcp ? new BackendAddress(tcp, null) : null;
        return new MetricsConfig
        {
            // A placeholder when listen was reported wrong: the config is discarded then.
            Listen = listen ?? new BackendAddress(Placeholder, null),
            IncludeAddresses = Choice(Get(m, "includeAddresses"), TrueFalse) ?? false,
        };
    }
}
