using Microsoft.Extensions.Logging;

namespace Bastion.Daemon.Tor;

/// <summary>Log messages of the tor and onion components. Never a key: addresses and key file paths only.</summary>
internal static partial class TorLog
{
    [LoggerMessage(EventId = LogEvents.TorStarting, Level = LogLevel.Information, Message = "starting tor: {Executable} -f {Torrc}")]
    public static partial void Starting(ILogger logger, string executable, string torrc);

    [LoggerMessage(EventId = LogEvents.TorStarted, Level = LogLevel.Information, Message = "tor (pid {Pid}) is up: control port {ControlPort}, SocksPort {SocksPort}")]
    public static partial void Started(ILogger logger, int pid, string controlPort, string socksPort);

    [LoggerMessage(EventId = LogEvents.TorControlConnected, Level = LogLevel.Information, Message = "using the tor at control port {ControlPort} (SocksPort {SocksPort})")]
    public static partial void ControlConnected(ILogger logger, string controlPort, string socksPort);

    [LoggerMessage(EventId = LogEvents.TorBootstrap, Level = LogLevel.Information, Message = "tor {Bootstrap}")]
    public static partial void Bootstrap(ILogger logger, string bootstrap);

    [LoggerMessage(EventId = LogEvents.TorExited, Level = LogLevel.Warning, Message = "tor (pid {Pid}): {Why}")]
    public static partial void Exited(ILogger logger, int pid, string why);

    [LoggerMessage(EventId = LogEvents.TorStopping, Level = LogLevel.Information, Message = "stopping tor (pid {Pid})")]
    public static partial void Stopping(ILogger logger, int pid);

    [LoggerMessage(EventId = LogEvents.TorOutput, Message = "tor: {Line}")]
    public static partial void Output(ILogger logger, LogLevel level, string line);

    [LoggerMessage(EventId = LogEvents.TorOutput, Message = "tor: {Line} (repeated {Repeats} more times in {Seconds} s)")]
    public static partial void OutputRepeated(ILogger logger, LogLevel level, string line, int repeats, int seconds);

    [LoggerMessage(EventId = LogEvents.OnionKeyCreated, Level = LogLevel.Information, Message = "onion {Service}: created a new key for {Address} in {KeyFile} (0600); this address stays as long as the file does")]
    public static partial void KeyCreated(ILogger logger, string service, string address, string keyFile);

    [LoggerMessage(EventId = LogEvents.OnionAdded, Level = LogLevel.Information, Message = "onion {Service}: added {Address} (ports {Ports}; {Clients})")]
    public static partial void Added(ILogger logger, string service, string address, string ports, string clients);

    [LoggerMessage(EventId = LogEvents.OnionPublished, Level = LogLevel.Information, Message = "onion {Service}: descriptor of {Address} uploaded to {HsDir}")]
    public static partial void Published(ILogger logger, string service, string address, string hsDir);

    [LoggerMessage(EventId = LogEvents.OnionReachable, Level = LogLevel.Information, Message = "onion {Service}: {Address} is reachable through tor: {Banner}")]
    public static partial void Reachable(ILogger logger, string service, string address, string banner);

    [LoggerMessage(EventId = LogEvents.OnionSelfTestFailed, Level = LogLevel.Debug, Message = "onion {Service}: self-test of {Address} failed: {Reason}")]
    public static partial void SelfTestFailed(ILogger logger, string service, string address, string reason);

    [LoggerMessage(EventId = LogEvents.OnionAdded, Level = LogLevel.Warning, Message = "onion {Service}: the authorized clients changed: closed {Count} rendezvous circuit(s) of {Address}; open sessions over the onion were cut")]
    public static partial void SessionsCut(ILogger logger, string service, string address, int count);

    [LoggerMessage(EventId = LogEvents.OnionPublished, Level = LogLevel.Warning, Message = "onion {Service}: the directories have no descriptor of {Address}; publishing it again")]
    public static partial void Republishing(ILogger logger, string service, string address);

    [LoggerMessage(EventId = LogEvents.OnionRemoved, Level = LogLevel.Information, Message = "onion {Service}: removed {Address}")]
    public static partial void Removed(ILogger logger, string service, string address);
}
