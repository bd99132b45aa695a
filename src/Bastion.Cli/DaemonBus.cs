using System.CommandLine;
using Bastion.Api;
using Bastion.Config;
using Bastion.Status;
using Tmds.DBus.Protocol;

namespace Bastion.Cli;

/// <summary>
/// bastionctl's D-Bus client of bastiond (org.bastion.Bastion1), on Tmds.DBus.Protocol. Which bus: the <c>dbus:</c> section of
/// <c>--config</c> when given (<c>bus: none</c>: not at all), otherwise the system bus, where the daemon is by default
/// (<c>DBUS_SYSTEM_BUS_ADDRESS</c> honoured, as by busctl). Calls block (the CLI does one thing at a time), each bounded.
/// </summary>
internal sealed class DaemonBus : IDisposable
{
    private static readonly TimeSpan ReadTimeout = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(10);
    private readonly DBusConnection _connection;

    private DaemonBus(DBusConnection connection, BusTarget target)
    {
        _connection = connection;
        Target = target;
    }

    public BusTarget Target { get; }

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
        if (target.Resolve() is not { } address)
        {
            why = $"cannot connect to {target}: DBUS_SESSION_BUS_ADDRESS is not set";
            return null;
        }
        var connection = new DBusConnection(new DBusConnectionOptions(address) { AutoConnect = false });
        try
        {
            connection.ConnectAsync().AsTask().WaitAsync(ConnectTimeout).GetAwaiter().GetResult();
            return new DaemonBus(connection, target);
        }
#pragma warning disable CA1031 // Whatever stops the connection is the reason the status comes from the file instead.
        catch (Exception e)
#pragma warning restore CA1031
        {
            connection.Dispose();
            why = $"cannot connect to {target}: {Describe(e)}";
            return null;
        }
    }

    /// <summary>True for errors that mean "bastiond is not reachable on this bus", as opposed to an answer from it.</summary>
    public static bool IsUnreachable(BusException e) => e.Name is BusErrors.ServiceUnknown or BusErrors.NameHasNoOwner
        or BusErrors.Disconnected or BusErrors.NoReply or BusErrors.TimedOut or BusErrors.NoServer;

    /// <summary>A message for an unreachable daemon on this bus.</summary>
    public string Unreachable(BusException e) => e.Name is BusErrors.ServiceUnknown or BusErrors.NameHasNoOwner
        ? $"bastiond is not on {Target} ({BastionApi.BusName} has no owner)"
        : $"bastiond did not answer on {Target}: {e.Message}";

    public StatusSnapshot GetStatus() => Call("GetStatus", null, ReadTimeout, static (Message m, object? _) =>
    {
        var r = m.GetBodyReader();
        var daemon = new DaemonStatus
        {
            State = r.ReadString(),
            Summary = r.ReadString(),
            Version = r.ReadString(),
            Pid = (int)r.ReadUInt32(),
            ConfigPath = r.ReadString(),
            StartedAt = ComponentCodec.FromMicroseconds(r.ReadInt64()),
            LastReloadAt = r.ReadInt64() is var at and not 0 ? ComponentCodec.FromMicroseconds(at) : null,
            ConfigErrors = [.. r.ReadArrayOfString()],
            WrittenAt = ComponentCodec.FromMicroseconds(r.ReadInt64()),
        };
        return new StatusSnapshot { Daemon = daemon, Components = ComponentCodec.ReadArray(ref r) };
    });

    public List<ComponentStatus> ListComponents() => Call("ListComponents", null, ReadTimeout, static (Message m, object? _) =>
    {
        var r = m.GetBodyReader();
        return ComponentCodec.ReadArray(ref r);
    });

    public string RestartComponent(string kind, string name, TimeSpan timeout) =>
        Call("RestartComponent", new Arguments("ss", (ref MessageWriter w) =>
        {
            w.WriteString(kind);
            w.WriteString(name);
        }), timeout, static (Message m, object? _) => m.GetBodyReader().ReadString());

    public (bool Applied, List<string> Errors) Reload(TimeSpan timeout) => Call("Reload", null, timeout, static (Message m, object? _) =>
    {
        var r = m.GetBodyReader();
        return (r.ReadBool(), r.ReadArrayOfString().ToList());
    });

    /// <summary>ControlVnc: start | stop | auto, for how long (null = until changed), force (stop only).</summary>
    public (bool Applied, string Message) ControlVnc(string action, TimeSpan? duration, bool force, TimeSpan timeout)
    {
        var seconds = duration is { } d ? (ulong)Math.Ceiling(d.TotalSeconds) : 0UL;
        return Call("ControlVnc", new Arguments("stb", (ref MessageWriter w) =>
        {
            w.WriteString(action);
            w.WriteUInt64(seconds);
            w.WriteBool(force);
        }), timeout, static (Message m, object? _) =>
        {
            var r = m.GetBodyReader();
            return (r.ReadBool(), r.ReadString());
        });
    }

    public void Dispose() => _connection.Dispose();

    private delegate void ArgumentWriter(ref MessageWriter writer);

    private sealed record Arguments(string Signature, ArgumentWriter Write);

    /// <summary>
    /// Calls a method and reads its reply, or throws <see cref="BusException"/> with the error reply's name and message, or
    /// with <see cref="BusErrors.Disconnected"/>/<see cref="BusErrors.NoReply"/> when the bus failed or nobody answered in time.
    /// </summary>
    private T Call<T>(string member, Arguments? arguments, TimeSpan timeout, MessageValueReader<T> read)
    {
        var writer = _connection.GetMessageWriter();
        MessageBuffer call;
        try
        {
            writer.WriteMethodCallHeader(destination: BastionApi.BusName, path: BastionApi.ObjectPath, @interface: BastionApi.Interface,
                member: member, signature: arguments?.Signature);
            arguments?.Write(ref writer);
            call = writer.CreateMessage();
        }
        finally
        {
            writer.Dispose();
        }
        try
        {
            return _connection.CallMethodAsync(call, read).WaitAsync(timeout).GetAwaiter().GetResult();
        }
        catch (DBusErrorReplyException e)
        {
            throw new BusException(e.ErrorName, e.ErrorMessage, e);
        }
        catch (TimeoutException e)
        {
            throw new BusException(BusErrors.NoReply, $"{BastionApi.Interface}.{member} on {Target}: no answer within {timeout.TotalSeconds:0.#}s", e);
        }
        catch (DBusConnectionException e)
        {
            throw new BusException(BusErrors.Disconnected, $"{BastionApi.Interface}.{member} on {Target}: {Describe(e)}", e);
        }
    }

    private static string Describe(Exception e) => BusErrors.DescribeChain(e);
}
