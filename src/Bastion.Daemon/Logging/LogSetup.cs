using Bastion.Config;
using Serilog;
using Serilog.Core;
using Serilog.Events;
using Serilog.Formatting;
using Serilog.Formatting.Compact;

namespace Bastion.Daemon.Logging;

/// <summary>Serilog is configured here and only here; everything else logs through Microsoft.Extensions.Logging.</summary>
public static class LogSetup
{
    /// <summary>systemd sets JOURNAL_STREAM when stdout/stderr go to the journal.</summary>
    public static bool UnderJournald => !string.IsNullOrEmpty(Environment.GetEnvironmentVariable("JOURNAL_STREAM"));

    public static Logger Create(LoggingConfig config, LoggingLevelSwitch level)
    {
        level.MinimumLevel = ToSerilog(config.Level);
        ITextFormatter formatter = config.Format == LogFormat.Json
            ? new CompactJsonFormatter()
            : new OneLineTextFormatter(UnderJournald);
        // Everything to stderr: stdout stays clean for --check-config and --version output.
        return new LoggerConfiguration()
            .MinimumLevel.ControlledBy(level)
            .WriteTo.Console(formatter, standardErrorFromLevel: LogEventLevel.Verbose)
            .CreateLogger();
    }

    public static LogEventLevel ToSerilog(LogLevelSetting level) => level switch
    {
        LogLevelSetting.Trace => LogEventLevel.Verbose,
        LogLevelSetting.Debug => LogEventLevel.Debug,
        LogLevelSetting.Information => LogEventLevel.Information,
        LogLevelSetting.Warning => LogEventLevel.Warning,
        _ => LogEventLevel.Error,
    };
}
