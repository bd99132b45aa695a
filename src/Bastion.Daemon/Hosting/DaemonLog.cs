using Bastion.Supervision;
using Microsoft.Extensions.Logging;

namespace Bastion.Daemon.Hosting;

internal static partial class DaemonLog
{
    [LoggerMessage(EventId = LogEvents.DaemonStarting, Level = LogLevel.Information, Message = "bastiond {Version} starting (pid {Pid}) with {ConfigPath}")]
    public static partial void Starting(ILogger logger, string version, int pid, string configPath);

    [LoggerMessage(EventId = LogEvents.DaemonReady, Level = LogLevel.Information, Message = "ready: {Summary}")]
    public static partial void Ready(ILogger logger, string summary);

    [LoggerMessage(EventId = LogEvents.DaemonStopping, Level = LogLevel.Information, Message = "stopping: stopping {Count} components (at most {Timeout})")]
    public static partial void Stopping(ILogger logger, int count, TimeSpan timeout);

    [LoggerMessage(EventId = LogEvents.DaemonStopped, Level = LogLevel.Information, Message = "stopped")]
    public static partial void Stopped(ILogger logger);

    [LoggerMessage(EventId = LogEvents.ReloadRequested, Level = LogLevel.Information, Message = "reload requested (SIGHUP): reading {ConfigPath}")]
    public static partial void ReloadRequested(ILogger logger, string configPath);

    [LoggerMessage(EventId = LogEvents.ReloadApplied, Level = LogLevel.Information, Message = "reload applied: {Plan}")]
    public static partial void ReloadApplied(ILogger logger, ReloadPlan plan);

    [LoggerMessage(EventId = LogEvents.ReloadPathsUnchanged, Level = LogLevel.Warning, Message = "paths: changes take effect at the next restart; still using stateDir {StateDir} and runtimeDir {RuntimeDir}")]
    public static partial void PathsChangeNeedsRestart(ILogger logger, string stateDir, string runtimeDir);

    [LoggerMessage(EventId = LogEvents.ReloadConfigError, Level = LogLevel.Error, Message = "config error: {Error}")]
    public static partial void ReloadConfigError(ILogger logger, string error);

    [LoggerMessage(EventId = LogEvents.ReloadRefused, Level = LogLevel.Error, Message = "reload refused: {Count} config errors; still running the last good config")]
    public static partial void ReloadRefused(ILogger logger, int count);

    [LoggerMessage(EventId = LogEvents.WatchdogWithheld, Level = LogLevel.Warning, Message = "supervision loop did not answer within {Timeout}; withholding the watchdog ping")]
    public static partial void WatchdogWithheld(ILogger logger, TimeSpan timeout);

    [LoggerMessage(EventId = LogEvents.StatusWriteFailed, Level = LogLevel.Warning, Message = "cannot write the status file {Path}: {Error}")]
    public static partial void StatusWriteFailed(ILogger logger, string path, string error);

    [LoggerMessage(EventId = LogEvents.ControlLoopError, Level = LogLevel.Error, Message = "control loop: {What} failed")]
    public static partial void ControlLoopError(ILogger logger, string what, Exception exception);
}
