namespace Bastion;

// 3000–3999: tor and onion services.
public static partial class LogEvents
{
    public const int TorStarting = 3000;
    public const int TorStarted = 3001;
    public const int TorBootstrap = 3002;
    public const int TorExited = 3003;
    public const int TorOutput = 3004;
    public const int TorControlConnected = 3005;
    public const int TorStopping = 3006;
    public const int OnionKeyCreated = 3100;
    public const int OnionAdded = 3101;
    public const int OnionPublished = 3102;
    public const int OnionReachable = 3103;
    public const int OnionSelfTestFailed = 3104;
    public const int OnionRemoved = 3105;
    public const int OnionClientsApplied = 3106;
}
