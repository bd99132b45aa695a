using System.CommandLine;
using System.Text.Json;
using Bastion.Api;
using Bastion.Status;

namespace Bastion.Cli;

/// <summary>
/// <c>bastionctl status [--json]</c> and <c>bastionctl tunnels [--json]</c>: asks bastiond over D-Bus (GetStatus); when the
/// bus or the daemon's name is not there (rescue target, broken bus, <c>dbus.bus: none</c>) it reads the status file the
/// daemon keeps instead, and says so (the <c>source</c> line; <c>"source"</c> and <c>"dbusError"</c> in JSON).
/// Prints a table or the JSON of <see cref="StatusReport"/>. Exit 0 when the daemon runs; 3 when there is no status, or
/// (with the last known status printed, marked stale) when the daemon that wrote the file is gone.
/// </summary>
internal sealed class StatusCommand(GlobalOptions globalOptions, CliConsole console)
{
    public Command CreateStatus() =>
        Create("status", "Show the daemon and every component it supervises: state, since when, and why", onlyKind: null);

    public Command CreateTunnels() =>
        Create("tunnels", "Show the SSH tunnels only, with their counters (bytes, connections, reconnects)", onlyKind: BastionApi.TunnelKind);

    private Command Create(string name, string description, string? onlyKind)
    {
        var json = new Option<bool>("--json")
        {
            Description = "Print the status as JSON (the fields are documented in README.md)",
        };
        var command = new Command(name, description) { json };
        command.SetAction(parseResult => console.Run(() => Show(parseResult, parseResult.GetValue(json), onlyKind)));
        return command;
    }

    private int Show(ParseResult parseResult, bool json, string? onlyKind)
    {
        var runtimeDir = RuntimeDirectory.Resolve(parseResult, globalOptions);
        var reading = ReadFromBus(parseResult, out var dbusError)
            ?? DaemonStatusReader.Read(runtimeDir, console.Time) with { DbusError = dbusError };
        if (reading.Source == StatusReport.SourceStatusFile && DbusOffInConfig(reading.Snapshot.Daemon.ConfigPath))
        {
            // Not a broken bus: the daemon was told not to use one. Say that instead of the connection error.
            reading = reading with { DbusError = $"D-Bus off in the config (dbus.bus: none in {reading.Snapshot.Daemon.ConfigPath})" };
        }
        var components = onlyKind is null
            ? reading.Snapshot.Components
            : reading.Snapshot.Components.Where(c => c.Kind == onlyKind).ToList();

        if (json)
        {
            console.Output.WriteLine(JsonSerializer.Serialize(
                StatusReport.From(reading, components), StatusReportJsonContext.Default.StatusReport));
        }
        else
        {
            WriteText(reading, components, onlyKind);
        }

        if (reading.IsStale)
        {
            console.Message($"bastiond is not running: {reading.StaleReason}; the status shown is the last one it wrote to {reading.Path}"
                + " — start it with: systemctl start bastion");
            return ExitCodes.DaemonUnreachable;
        }
        return ExitCodes.Ok;
    }

    /// <summary>Whether the daemon's config (the file its status names) says <c>dbus.bus: none</c>.</summary>
    private static bool DbusOffInConfig(string configPath)
    {
        if (string.IsNullOrEmpty(configPath) || !File.Exists(configPath))
        {
            return false;
        }
        try
        {
            var loaded = Bastion.Config.ConfigLoader.LoadFile(configPath, new Bastion.Config.ConfigLoadOptions { CheckFiles = false });
            return loaded.Config?.Dbus.Bus == Bastion.Config.BusKind.None;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>The daemon's answer over D-Bus, or null (with why) when it is not reachable there.</summary>
    private DaemonStatusReading? ReadFromBus(ParseResult parseResult, out string? why)
    {
        var target = DaemonBus.Resolve(parseResult, globalOptions, out why);
        using var bus = DaemonBus.TryConnect(target, ref why);
        if (bus is null)
        {
            return null;
        }
        try
        {
            return new DaemonStatusReading($"{BastionApi.BusName} on {bus.Target}", bus.GetStatus(), null, StatusReport.SourceDbus);
        }
        catch (BusException e) when (DaemonBus.IsUnreachable(e))
        {
            why = bus.Unreachable(e);
            return null;
        }
        catch (BusException e)
        {
            // An answer, but not a status (e.g. a policy that denies it): the status file may still tell.
            why = $"{bus.Target} refused GetStatus: {e.Name}: {e.Message}";
            return null;
        }
    }

    private void WriteText(DaemonStatusReading reading, IReadOnlyList<ComponentStatus> components, string? onlyKind)
    {
        var now = console.Time.GetUtcNow();
        StatusTable.WriteDaemon(console.Output, reading, now, CliConsole.TerminalWidth());
        console.Output.WriteLine();
        if (components.Count == 0)
        {
            console.Output.WriteLine(onlyKind == BastionApi.TunnelKind ? "no tunnels configured" : "no components configured");
            return;
        }
        StatusTable.WriteComponents(console.Output, components, now, CliConsole.TerminalWidth());
        if (onlyKind == BastionApi.TunnelKind)
        {
            StatusTable.WriteTunnelDetails(console.Output, components);
        }
    }
}
