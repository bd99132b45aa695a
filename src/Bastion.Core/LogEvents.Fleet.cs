namespace Bastion;

public static partial class LogEvents
{
    // 7xxx: the fleet (signed, encrypted commands and status)
    public const int FleetCommandAccepted = 7000;
    public const int FleetMessageRefused = 7001;
    public const int FleetReplayCacheNotPersisted = 7002;
    public const int FleetMessagesRefusedRepeatedly = 7003;
}
