namespace Bastion.Api;

/// <summary>
/// Names of bastiond's D-Bus API, shared by the daemon and bastionctl. The interface itself is declared in
/// <c>src/Bastion.Daemon/DBus/org.bastion.Bastion1.xml</c>.
/// </summary>
public static class BastionApi
{
    public const string BusName = "org.bastion.Bastion1";
    public const string ObjectPath = "/org/bastion/Bastion1";
    public const string Interface = "org.bastion.Bastion1";

    /// <summary>The struct of one component: kind, name, state, reason, since (µs), starts, instance, details.</summary>
    public const string ComponentSignature = "ssssxxsa{ss}";

    public const string ErrorUnknownComponent = "org.bastion.Error.UnknownComponent";
    public const string ErrorNotRunning = "org.bastion.Error.NotRunning";

    /// <summary>ControlVnc while vnc.mode is off: there is no emergency desktop to control.</summary>
    public const string ErrorVncNotConfigured = "org.bastion.Error.VncNotConfigured";

    public const string TunnelKind = "tunnel";

    /// <summary>The kind of the emergency desktop's component (there is at most one: vnc/desktop).</summary>
    public const string VncKind = "vnc";

    /// <summary>ControlVnc's actions.</summary>
    public static readonly IReadOnlyList<string> VncActions = ["start", "stop", "auto"];
}
