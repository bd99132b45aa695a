using System.CommandLine;
using System.Text.Json;
using Bastion.Status;

namespace Bastion.Cli;

/// <summary>
/// <c>bastionctl status [--json]</c> and <c>bastionctl tunnels [--json]</c>: the daemon's status file, as a table or as the JSON
/// of <see cref="StatusReport"/>. Exit 0 when the daemon runs; 3 when there is no status, or (with the last known status
/// printed, marked stale) when the daemon that wrote it is gone.
/// </summary>
internal sealed class StatusCommand(GlobalOptions globalOptions, CliConsole console)
{
    private const string TunnelKind = "tunnel";

    public Command CreateStatus() =>
        Create("status", "Show the daemon and every component it supervises: state, since when, and why", onlyKind: null);

    public Command CreateTunnels() =>
        Create("tunnels", "Show the SSH tunnels only", onlyKind: TunnelKind);

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
        var reading = DaemonStatusReader.Read(runtimeDir, console.Time);
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

    private void WriteText(DaemonStatusReading reading, IReadOnlyList<ComponentStatus> components, string? onlyKind)
    {
        var now = console.Time.GetUtcNow();
        StatusTable.WriteDaemon(console.Output, reading, now);
        console.Output.WriteLine();
        if (components.Count == 0)
        {
            console.Output.WriteLine(onlyKind == TunnelKind ? "no tunnels configured" : "no components configured");
            return;
        }
        StatusTable.WriteComponents(console.Output, components, now, CliConsole.TerminalWidth());
    }
}
