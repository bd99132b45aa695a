namespace Bastion;

public static partial class LogEvents
{
    // 6xxx: the Prometheus metrics endpoint
    public const int MetricsListening = 6000;
    public const int MetricsBindFailed = 6001;
    public const int MetricsStopped = 6002;
    public const int MetricsScrapeFailed = 6003;
}
