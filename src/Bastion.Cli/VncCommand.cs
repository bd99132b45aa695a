using System.CommandLine;
using System.Text.Json;
using Bastion.Api;
using Bastion.Status;

namespace Bastion.Cli;

/// <summary>
/// <c>bastionctl vnc status|start|stop|auto|password|probe</c>: the emergency desktop (the component of kind <c>vnc</c>).
/// <c>status</c> and <c>password</c> read the component from D-Bus, or from the status file when D-Bus is not reachable
/// (like <c>status</c>); <c>start</c>, <c>stop</c> and <c>auto</c> need D-Bus (ControlVnc); <c>probe</c> talks to the
/// desktop itself (its socket, or the mutual-TLS endpoint), no daemon needed.
/// </summary>
internal sealed partial class VncCommand(GlobalOptions globalOptions, CliConsole console)
{
    /// <summary>Details in the order an admin reads them; any others follow, sorted.</summary>
    private static readonly (string Key, string Label)[] KnownDetails =
    [
        ("mode", "mode"),
        ("desired", "desired"),
        ("override", "override"),
        ("check", "check"),
        ("sshd", "sshd"),
        ("consecutiveFailures", "failures"),
        ("healthySince", "healthy since"),
        ("clients", "clients"),
        ("display", "display"),
        ("geometry", "geometry"),
        ("socket", "socket"),
        ("endpoint", "endpoint"),
        ("xvncPid", "Xvnc pid"),
        ("sessionPid", "session pid"),
        ("probe", "probe"),
        ("xvncRestarts", "Xvnc restarts"),
        ("passwordFile", "password file"),
    ];

    private const int LabelWidth = 15;

    public Command Create()
    {
        var vnc = new Command("vnc", "Emergency VNC desktop: show, raise or lower it, read its password, probe it")
        {
            CreateStatus(),
            CreateStart(),
            CreateStop(),
            CreateAuto(),
            CreatePassword(),
            CreateProbe(),
        };
        return vnc;
    }

    private Command CreateStatus()
    {
        var json = new Option<bool>("--json") { Description = "Print the daemon's status as JSON, with only the vnc component (like status --json)" };
        var command = new Command("status", "Show the emergency desktop: state, why, the fallback policy's view, the override, clients, probe") { json };
        command.SetAction(parseResult => console.Run(() => Status(parseResult, parseResult.GetValue(json))));
        return command;
    }

    private int Status(ParseResult parseResult, bool json)
    {
        var reading = ReadStatus(parseResult);
        var desktop = reading.Snapshot.Components.Where(c => c.Kind == BastionApi.VncKind).ToList();
        if (json)
        {
            console.Output.WriteLine(JsonSerializer.Serialize(StatusReport.From(reading, desktop), StatusReportJsonContext.Default.StatusReport));
        }
        else if (desktop.Count > 0)
        {
            WriteDesktop(reading, desktop[0]);
        }
        if (reading.IsStale)
        {
            console.Message($"bastiond is not running: {reading.StaleReason}; the status shown is the last one it wrote to {reading.Path}"
                + " — start it with: systemctl start bastion");
            return ExitCodes.DaemonUnreachable;
        }
        if (desktop.Count == 0)
        {
            throw NotConfigured(reading.Snapshot.Daemon.ConfigPath);
        }
        return ExitCodes.Ok;
    }

    private void WriteDesktop(DaemonStatusReading reading, ComponentStatus desktop)
    {
        var now = console.Time.GetUtcNow();
        if (reading.IsStale)
        {
            console.Output.WriteLine($"bastiond is NOT RUNNING ({reading.StaleReason}). Last known status, written {StatusTable.When(reading.Snapshot.Daemon.WrittenAt, now)}:");
        }
        Line("desktop", $"{desktop.Kind}/{desktop.Name} {desktop.State} since {StatusTable.When(desktop.Since, now)}");
        Line("reason", desktop.Reason);
        Line("source", reading.Source == StatusReport.SourceDbus
            ? $"D-Bus ({reading.Path})"
            : $"status file {reading.Path}" + (reading.DbusError is { } why ? $" (not D-Bus: {why})" : ""));
        foreach (var (key, label) in KnownDetails)
        {
            if (desktop.Details.TryGetValue(key, out var value))
            {
                Line(label, value);
            }
        }
        foreach (var (key, value) in desktop.Details.Where(d => !KnownDetails.Any(k => k.Key == d.Key)).OrderBy(d => d.Key, StringComparer.Ordinal))
        {
            Line(key, value);
        }
    }

    private void Line(string label, string value) => console.Output.WriteLine((label.PadRight(LabelWidth) + value).TrimEnd());

    /// <summary>The daemon's status from D-Bus, else from the status file (exit 3 when there is none).</summary>
    private DaemonStatusReading ReadStatus(ParseResult parseResult)
    {
        var runtimeDir = RuntimeDirectory.Resolve(parseResult, globalOptions);
        var target = DaemonBus.Resolve(parseResult, globalOptions, out var why);
        using (var bus = DaemonBus.TryConnect(target, ref why))
        {
            if (bus is not null)
            {
                try
                {
                    return new DaemonStatusReading($"{BastionApi.BusName} on {bus.Target}", bus.GetStatus(), null, StatusReport.SourceDbus);
                }
                catch (BusException e) when (DaemonBus.IsUnreachable(e))
                {
                    why = bus.Unreachable(e);
                }
                catch (BusException e)
                {
                    why = $"{bus.Target} refused GetStatus: {e.Name}: {e.Message}";
                }
            }
        }
        return DaemonStatusReader.Read(runtimeDir, console.Time) with { DbusError = why };
    }

    private static CommandException NotConfigured(string configPath) => new(ExitCodes.Failed,
        $"the emergency desktop is not configured: vnc.mode is off in {configPath} — set vnc.mode: fallback (or always) and vnc.endpoint, then bastionctl reload");
}
