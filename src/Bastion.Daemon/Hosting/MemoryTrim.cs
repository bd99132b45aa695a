using Microsoft.Extensions.Logging;

namespace Bastion.Daemon.Hosting;

/// <summary>
/// Gives back the memory a burst left committed. Start-up and every reload parse a config and start components at
/// once (200 tunnels: hundreds of short-lived objects each); the GC then keeps every page that burst touched, and an
/// idle daemon allocates too little to ever collect again, so it holds them for good (200 tunnels: 26 MB anonymous
/// with a live heap of about 4 MB). <see cref="Schedule"/> after each apply; once nothing has been scheduled for
/// <see cref="SettleDelay"/>, one full, compacting, decommitting collection runs (a few milliseconds for a heap this size).
/// </summary>
internal sealed partial class MemoryTrim(TimeProvider time, ILogger logger, Action? collect = null) : IDisposable
{
    /// <summary>Long enough for the components an apply started to have connected (a shared session, 200 forwards: under 1 s).</summary>
    public static readonly TimeSpan SettleDelay = TimeSpan.FromSeconds(10);

    private readonly Action _collect = collect ?? CollectAggressively;
    private readonly Lock _lock = new();
    private ITimer? _timer;
    private bool _disposed;

    /// <summary>(Re)arms the one trim: a burst that follows another moves it, so it runs once, after the last.</summary>
    public void Schedule()
    {
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }
            _timer ??= time.CreateTimer(_ => Trim(), null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            _timer.Change(SettleDelay, Timeout.InfiniteTimeSpan);
        }
    }

    private void Trim()
    {
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }
        }
        var before = GC.GetGCMemoryInfo().TotalCommittedBytes;
        _collect();
        var after = GC.GetGCMemoryInfo().TotalCommittedBytes;
        var live = GC.GetTotalMemory(false);
        LogTrimmed(logger, before / Megabyte, after / Megabyte, live / Megabyte);
    }

    private static void CollectAggressively() =>
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);

    private const double Megabyte = 1024 * 1024;

    public void Dispose()
    {
        lock (_lock)
        {
            _disposed = true;
            _timer?.Dispose();
            _timer = null;
        }
    }

    [LoggerMessage(EventId = LogEvents.MemoryTrimmed, Level = LogLevel.Debug,
        Message = "memory trimmed after the last apply settled: GC committed {Before:0.0} MB -> {After:0.0} MB ({Live:0.0} MB live)")]
    private static partial void LogTrimmed(ILogger logger, double before, double after, double live);
}
