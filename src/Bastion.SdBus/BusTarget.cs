namespace Bastion.SdBus;

public enum BusTargetKind { System, Session, Address }

/// <summary>
/// Which bus to connect to: the system bus (sd-bus honours <c>DBUS_SYSTEM_BUS_ADDRESS</c>), the session bus, or an
/// explicit address such as <c>unix:path=/run/x/bus</c> (tests, private buses).
/// </summary>
public sealed record BusTarget(BusTargetKind Kind, string? Address = null)
{
    public static BusTarget System { get; } = new(BusTargetKind.System);
    public static BusTarget Session { get; } = new(BusTargetKind.Session);
    public static BusTarget At(string address) => new(BusTargetKind.Address, address);

    public override string ToString() => Kind switch
    {
        BusTargetKind.System => Environment.GetEnvironmentVariable("DBUS_SYSTEM_BUS_ADDRESS") is { Length: > 0 } a
            ? $"the system bus ({a})" : "the system bus",
        BusTargetKind.Session => "the session bus",
        _ => $"the bus at {Address}",
    };

    /// <summary>Connects; throws <see cref="BusException"/> naming the bus and the errno when it cannot.</summary>
    internal nint Open()
    {
        nint bus;
        int r;
        switch (Kind)
        {
            case BusTargetKind.System:
                r = Native.sd_bus_open_system(out bus);
                break;
            case BusTargetKind.Session:
                r = Native.sd_bus_open_user(out bus);
                break;
            default:
                r = Native.sd_bus_new(out bus);
                if (r >= 0)
                {
                    r = Native.sd_bus_set_address(bus, Address ?? "");
                    r = r < 0 ? r : Native.sd_bus_set_bus_client(bus, 1);
                    r = r < 0 ? r : Native.sd_bus_start(bus);
                }
                break;
        }
        if (r < 0)
        {
            if (bus != 0)
            {
                Native.sd_bus_flush_close_unref(bus);
            }
            throw new BusException(BusErrors.Disconnected, $"cannot connect to {this}: {Errno.Describe(-r)}", -r);
        }
        return bus;
    }
}
