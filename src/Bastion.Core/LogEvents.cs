namespace Bastion;

/// <summary>Every log event id, so journal queries and alerts can rely on them (ids never change meaning).</summary>
public static partial class LogEvents
{
    // 1xx: daemon lifecycle
    public const int DaemonStarting = 100;
    public const int DaemonReady = 101;
    public const int DaemonStopping = 102;
    public const int DaemonStopped = 103;
    // 104 was DaemonSectionsNotRun (a config section validated but not run yet); every section runs now. Not reused.
    public const int ReloadRequested = 110;
    public const int ReloadApplied = 111;
    public const int ReloadRefused = 112;
    public const int ReloadConfigError = 113;
    public const int ReloadPathsUnchanged = 114;
    public const int WatchdogWithheld = 120;
    public const int StatusWriteFailed = 130;
    public const int ControlLoopError = 140;
    public const int MemoryTrimmed = 150;

    // 2xx: supervision
    public const int ComponentTransition = 200;
    public const int ComponentCrashed = 201;
    public const int ComponentStopTimedOut = 202;
    public const int ComponentSupervisionFailed = 203;
    public const int ComponentCancelCallbackFailed = 204;
    public const int ComponentSubscriberFailed = 205;
    public const int ComponentAdded = 210;
    public const int ComponentRemoved = 211;
    public const int ComponentChanged = 212;
    public const int ComponentPolicyUpdated = 213;

    // Each area keeps its ids in its own part (LogEvents.Tunnels.cs, …), in its own range:
    // 1000–1999 SSH tunnels; 2000–2999 D-Bus; 3000–3999 tor and onion services;
    // 4000–4999 PKI and TLS endpoints; 5000–5999 VNC; 6000–6999 metrics; 7000–7999 fleet.
}
