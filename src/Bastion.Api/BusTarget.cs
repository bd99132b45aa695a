namespace Bastion.Api;

public enum BusTargetKind { System, Session, Address }

/// <summary>
/// Which bus to connect to: the system bus (<c>DBUS_SYSTEM_BUS_ADDRESS</c> honoured, as by busctl), the session
/// bus (<c>DBUS_SESSION_BUS_ADDRESS</c>), or an explicit address such as <c>unix:path=/run/x/bus</c> (tests, private buses).
/// </summary>
public sealed record BusTarget(BusTargetKind Kind, string? Address = null)
{
    /// <summary>Where the system bus is when the environment does not say (the D-Bus specification's default).</summary>
    public const string DefaultSystemAddress = "unix:path=/var/run/dbus/system_bus_socket";

    public static BusTarget System { get; } = new(BusTargetKind.System);
    public static BusTarget Session { get; } = new(BusTargetKind.Session);
    public static BusTarget At(string address) => new(BusTargetKind.Address, address);

    /// <summary>The address to connect to now, or null when the environment names no session bus.</summary>
    public string? Resolve() => Kind switch
    {
        BusTargetKind.System => Environment.GetEnvironmentVariable("DBUS_SYSTEM_BUS_ADDRESS") is { Length: > 0 } a ? a : DefaultSystemAddress,
        BusTargetKind.Session => Environment.GetEnvironmentVariable("DBUS_SESSION_BUS_ADDRESS") is { Length: > 0 } s ? s : null,
        _ => Address,
    };

    public override string ToString() => Kind switch
    {
        BusTargetKind.System => Environment.GetEnvironmentVariable("DBUS_SYSTEM_BUS_ADDRESS") is { Length: > 0 } a
            ? $"the system bus ({a})" : "the system bus",
        BusTargetKind.Session => "the session bus",
        _ => $"the bus at {Address}",
    };
}
