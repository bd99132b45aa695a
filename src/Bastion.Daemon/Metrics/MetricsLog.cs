using Microsoft.Extensions.Logging;

namespace Bastion.Daemon.Metrics;

/// <summary>The endpoint logs its own life only: never one line per connection (a stranger could fill the journal).</summary>
internal static partial class MetricsLog
{
    [LoggerMessage(EventId = LogEvents.MetricsListening, Level = LogLevel.Information, Message = "metrics: serving GET /metrics on {Address}")]
    public static partial void Listening(ILogger logger, string address);

    [LoggerMessage(EventId = LogEvents.MetricsBindFailed, Level = LogLevel.Error, Message = "metrics: cannot listen on {Address}: {Error} — free the address or change metrics.listen, then reload; no metrics are served until then")]
    public static partial void BindFailed(ILogger logger, string address, string error);

    [LoggerMessage(EventId = LogEvents.MetricsStopped, Level = LogLevel.Information, Message = "metrics: stopped serving on {Address}")]
    public static partial void Stopped(ILogger logger, string address);

    [LoggerMessage(EventId = LogEvents.MetricsScrapeFailed, Level = LogLevel.Warning, Message = "metrics: building the exposition failed: {Error}")]
    public static partial void ScrapeFailed(ILogger logger, string error);
}
