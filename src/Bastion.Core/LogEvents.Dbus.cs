namespace Bastion;

/// <summary>D-Bus API (2000–2999), and the restart it offers.</summary>
public static partial class LogEvents
{
    public const int DbusConnected = 2000;
    public const int DbusConnectFailed = 2001;
    public const int DbusDisconnected = 2002;
    public const int DbusHandlerFailed = 2003;
    public const int DbusDisabled = 2004;
    public const int DbusConfigNeedsRestart = 2005;
    public const int DbusRequest = 2010;
    public const int DbusRequestRefused = 2011;

    /// <summary>A component restarted on request (Supervisor.RestartAsync), e.g. by RestartComponent over D-Bus.</summary>
    public const int ComponentRestarting = 2100;
}
