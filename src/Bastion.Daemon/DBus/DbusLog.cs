using Microsoft.Extensions.Logging;

namespace Bastion.Daemon.DBus;

internal static partial class DbusLog
{
    [LoggerMessage(EventId = LogEvents.DbusConnected, Level = LogLevel.Information, Message = "dbus: serving {Name} on {Bus}")]
    public static partial void Connected(ILogger logger, string name, string bus);

    [LoggerMessage(EventId = LogEvents.DbusConnectFailed, Level = LogLevel.Warning, Message = "dbus: {Error}; retrying every few seconds (bastionctl falls back to the status file meanwhile)")]
    public static partial void ConnectFailed(ILogger logger, string error);

    [LoggerMessage(EventId = LogEvents.DbusConnectFailed, Level = LogLevel.Debug, Message = "dbus: still failing: {Error}; next attempt in {RetryIn}")]
    public static partial void ConnectStillFailing(ILogger logger, string error, TimeSpan retryIn);

    [LoggerMessage(EventId = LogEvents.DbusDisconnected, Level = LogLevel.Warning, Message = "dbus: lost the connection to {Bus} ({Error}); reconnecting")]
    public static partial void Disconnected(ILogger logger, string bus, string error);

    [LoggerMessage(EventId = LogEvents.DbusHandlerFailed, Level = LogLevel.Error, Message = "dbus: {Member} failed")]
    public static partial void HandlerFailed(ILogger logger, string member, Exception exception);

    [LoggerMessage(EventId = LogEvents.DbusDisabled, Level = LogLevel.Information, Message = "dbus: disabled by the config (dbus.bus: none); status only in the status file")]
    public static partial void Disabled(ILogger logger);

    [LoggerMessage(EventId = LogEvents.DbusConfigNeedsRestart, Level = LogLevel.Warning, Message = "dbus: changes take effect at the next restart; still using {Bus}")]
    public static partial void ConfigNeedsRestart(ILogger logger, string bus);

    [LoggerMessage(EventId = LogEvents.DbusRequest, Level = LogLevel.Information, Message = "dbus: {Member} {Target} requested by {Caller}")]
    public static partial void Request(ILogger logger, string member, string target, string caller);

    /// <summary>The same line as a warning: a mutating call the audit could not attribute (it is carried out all the same).</summary>
    [LoggerMessage(EventId = LogEvents.DbusRequest, Level = LogLevel.Warning, Message = "dbus: {Member} {Target} requested by {Caller}")]
    public static partial void RequestUnidentified(ILogger logger, string member, string target, string caller);

    /// <summary>A mutating call the daemon's own gate refused (not root, not in the admin group, or not identifiable).</summary>
    [LoggerMessage(EventId = LogEvents.DbusRequestRefused, Level = LogLevel.Warning, Message = "dbus: {Member} {Target} refused for {Caller}: {Reason}")]
    public static partial void RequestRefused(ILogger logger, string member, string target, string caller, string reason);
}
