using System.CommandLine;
using Bastion.Config;
using Bastion.SdBus;
using Bastion.Status;

namespace Bastion.Cli;

/// <summary>
/// bastionctl's D-Bus client of bastiond (org.bastion.Bastion1). Which bus: the <c>dbus:</c> section of <c>--config</c>
/// when given (<c>bus: none</c>: not at all), otherwise the system bus, where the daemon is by default
/// (<c>DBUS_SYSTEM_BUS_ADDRESS</c> honoured, as by sd-bus and busctl).
/// </summary>
internal sealed class DaemonBus : IDisposable
{
    private static readonly TimeSpan ReadTimeout = TimeSpan.FromSeconds(10);
    private readonly BusClient _client;

    private DaemonBus(BusClient client) => _client = client;

    public BusTarget Target => _client.Target;

    /// <summary>The bus to look for the daemon on; null (with why) when the config given says <c>bus: none</c>.</summary>
    public static BusTarget? Resolve(ParseResult parseResult, GlobalOptions options, out string? why)
    {
        why = null;
        var configPath = parseResult.GetValue(options.Config);
        if (configPath is null || parseResult.GetValue(options.RuntimeDir) is not null)
        {
            return BusTarget.System;
        }
        // RuntimeDirectory has already read this file and reported its errors.
        var config = ConfigLoader.LoadFile(Path.GetFullPath(configPath), new ConfigLoadOptions { CheckFiles = false }).Config;
        switch (config?.Dbus.Bus)
        {
            case BusKind.None:
                why = "the D-Bus API is off in the config (dbus.bus: none)";
                return null;
            case BusKind.Session:
                return BusTarget.Session;
            case BusKind.Address when config.Dbus.Address is { } address:
                return BusTarget.At(address);
            default:
                return BusTarget.System;
        }
    }

    /// <summary>Connects; null (with why) when the bus is not there.</summary>
    public static DaemonBus? TryConnect(BusTarget? target, ref string? why)
    {
        if (target is null)
        {
            return null;
        }
        try
        {
            return new DaemonBus(BusClient.Open(target));
        }
        catch (BusException e)
        {
            why = e.Message;
            return null;
        }
    }

    /// <summary>True for errors that mean "bastiond is not reachable on this bus", as opposed to an answer from it.</summary>
    public static bool IsUnreachable(BusException e) => e.Name is BusErrors.ServiceUnknown or BusErrors.NameHasNoOwner
        or BusErrors.Disconnected or BusErrors.NoReply or "org.freedesktop.DBus.Error.TimedOut" or "org.freedesktop.DBus.Error.NoServer";

    /// <summary>A message for an unreachable daemon on this bus.</summary>
    public string Unreachable(BusException e) => e.Name is BusErrors.ServiceUnknown or BusErrors.NameHasNoOwner
        ? $"bastiond is not on {Target} ({BastionApi.BusName} has no owner)"
        : $"bastiond did not answer on {Target}: {e.Message}";

    public StatusSnapshot GetStatus()
    {
        using var reply = Call("GetStatus", null, ReadTimeout);
        var m = reply.Message;
        var daemon = new DaemonStatus
        {
            State = m.ReadString(),
            Summary = m.ReadString(),
            Version = m.ReadString(),
            Pid = (int)m.ReadUInt32(),
            ConfigPath = m.ReadString(),
            StartedAt = ComponentCodec.FromMicroseconds(m.ReadInt64()),
            LastReloadAt = m.ReadInt64() is var at and not 0 ? ComponentCodec.FromMicroseconds(at) : null,
            ConfigErrors = m.ReadStrings(),
            WrittenAt = ComponentCodec.FromMicroseconds(m.ReadInt64()),
        };
        return new StatusSnapshot { Daemon = daemon, Components = ComponentCodec.ReadArray(m) };
    }

    public List<ComponentStatus> ListComponents()
    {
        using var reply = Call("ListComponents", null, ReadTimeout);
        return ComponentCodec.ReadArray(reply.Message);
    }

    public string RestartComponent(string kind, string name, TimeSpan timeout)
    {
        using var reply = Call("RestartComponent", m => m.Append(kind).Append(name), timeout);
        return reply.Message.ReadString();
    }

    public (bool Applied, List<string> Errors) Reload(TimeSpan timeout)
    {
        using var reply = Call("Reload", null, timeout);
        return (reply.Message.ReadBool(), reply.Message.ReadStrings());
    }

    /// <summary>ControlVnc: start | stop | auto, for how long (null = until changed), force (stop only).</summary>
    public (bool Applied, string Message) ControlVnc(string action, TimeSpan? duration, bool force, TimeSpan timeout)
    {
        var seconds = duration is { } d ? (ulong)Math.Ceiling(d.TotalSeconds) : 0UL;
        using var reply = Call("ControlVnc", m => m.Append(action).Append(seconds).Append(force), timeout);
        return (reply.Message.ReadBool(), reply.Message.ReadString());
    }

    public void Dispose() => _client.Dispose();

    private BusReply Call(string member, Action<BusMessage>? arguments, TimeSpan timeout) =>
        _client.Call(BastionApi.BusName, BastionApi.ObjectPath, BastionApi.Interface, member, arguments, timeout);
}
