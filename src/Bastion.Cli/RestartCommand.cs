using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Serialization;
using Bastion.Api;

namespace Bastion.Cli;

/// <summary>
/// <c>bastionctl restart NAME [--json]</c>: restarts one supervised component over D-Bus (RestartComponent): the daemon stops
/// it and starts a new instance from the same config. NAME is <c>KIND/NAME</c> or a bare name, which must be unique across
/// kinds. Exit 0 restarted; 1 no such component, not allowed (policy), or the daemon is stopping; 2 the bare name is
/// ambiguous; 3 D-Bus or the daemon is not reachable (restart has no fallback: <c>systemctl restart bastion</c> restarts
/// the whole daemon).
/// </summary>
internal sealed class RestartCommand(GlobalOptions globalOptions, CliConsole console)
{
    /// <summary>The daemon answers after the old instance stopped (at most supervision.stopTimeout, 5m) and the new one started.</summary>
    private static readonly TimeSpan CallTimeout = TimeSpan.FromMinutes(6);

    public Command Create()
    {
        var name = new Argument<string>("NAME") { Description = "The component: KIND/NAME as `bastionctl status` lists it, or just NAME when it is unique" };
        var json = new Option<bool>("--json") { Description = "Print the outcome as JSON: {\"kind\", \"name\", \"instance\"}" };
        var restart = new Command("restart", "Restart one supervised component (a tunnel, tor, the VNC desktop, a TLS endpoint, a check)") { name, json };
        restart.SetAction(parseResult => console.Run(() => Restart(parseResult, parseResult.GetValue(name)!, parseResult.GetValue(json))));
        return restart;
    }

    private int Restart(ParseResult parseResult, string requested, bool json)
    {
        _ = RuntimeDirectory.Resolve(parseResult, globalOptions); // the same option checks as every command
        if (requested.Length == 0)
        {
            throw new CommandException(ExitCodes.Usage, "NAME is empty — pass a component as `bastionctl status` lists it, e.g. tunnel/office");
        }
        var target = DaemonBus.Resolve(parseResult, globalOptions, out var why);
        using var bus = DaemonBus.TryConnect(target, ref why)
            ?? throw Unreachable(why ?? "no bus");
        try
        {
            var (kind, name) = Resolve(bus, requested);
            var instance = bus.RestartComponent(kind, name, CallTimeout);
            if (json)
            {
                console.Output.WriteLine(JsonSerializer.Serialize(new RestartReport { Kind = kind, Name = name, Instance = instance },
                    CommandReportJsonContext.Default.RestartReport));
            }
            else
            {
                console.Output.WriteLine($"restarted {kind}/{name} (new instance {instance})");
            }
            return ExitCodes.Ok;
        }
        catch (BusException e) when (e.Name != BusErrors.NoReply && DaemonBus.IsUnreachable(e))
        {
            throw Unreachable(bus.Unreachable(e));
        }
        catch (BusException e)
        {
            throw Failure(e, "restart");
        }
    }

    /// <summary>KIND/NAME as given, or the one component with that bare name.</summary>
    private static (string Kind, string Name) Resolve(DaemonBus bus, string requested)
    {
        var components = bus.ListComponents();
        var slash = requested.IndexOf('/', StringComparison.Ordinal);
        if (slash > 0 && components.Any(c => c.Kind == requested[..slash] && c.Name == requested[(slash + 1)..]))
        {
            return (requested[..slash], requested[(slash + 1)..]);
        }
        var matches = components.Where(c => c.Name == requested).ToList();
        return matches.Count switch
        {
            1 => (matches[0].Kind, matches[0].Name),
            0 => throw new CommandException(ExitCodes.Failed,
                $"no component named '{requested}' — `bastionctl status` lists them" +
                (components.Count > 0 ? $" (e.g. {components[0].Kind}/{components[0].Name})" : "")),
            _ => throw new CommandException(ExitCodes.Usage,
                $"'{requested}' names {matches.Count} components: {string.Join(", ", matches.Select(c => c.Kind + "/" + c.Name))} — say which, e.g. {matches[0].Kind}/{requested}"),
        };
    }

    private static CommandException Unreachable(string why) => new(ExitCodes.DaemonUnreachable,
        $"restart needs bastiond's D-Bus API, which is not reachable: {why} — `systemctl restart bastion` restarts the whole daemon");

    /// <summary>An error answer from the daemon or the bus, as an admin reads it.</summary>
    internal static CommandException Failure(BusException e, string what) => e.Name switch
    {
        BusErrors.AccessDenied => new(ExitCodes.Failed,
            $"not allowed to {what} bastiond's components: only root and members of its admin group may (the D-Bus policy and bastiond both check): {e.Message}"),
        BusErrors.NoReply => new(ExitCodes.Failed, $"bastiond did not confirm the {what} in time ({e.Message}) — check: bastionctl status"),
        BastionApi.ErrorUnknownComponent => new(ExitCodes.Failed, e.Message),
        BastionApi.ErrorNotRunning => new(ExitCodes.Failed, e.Message),
        _ => new(ExitCodes.Failed, $"{what} failed: {e.Name}: {e.Message}"),
    };
}

/// <summary><c>restart --json</c>.</summary>
internal sealed record RestartReport
{
    public required string Kind { get; init; }
    public required string Name { get; init; }

    /// <summary>The new instance's id (as in <c>status --json</c>'s <c>instance</c>).</summary>
    public required string Instance { get; init; }
}

/// <summary><c>reload --json</c>.</summary>
internal sealed record ReloadReport
{
    /// <summary>True: the config is in effect. False: refused, the daemon keeps the last good config (exit code 1).</summary>
    public required bool Applied { get; init; }

    /// <summary>Every config error when refused (file:line:col: key: problem — fix).</summary>
    public required IReadOnlyList<string> Errors { get; init; }

    /// <summary><c>dbus</c> (the Reload method) or <c>signal</c> (SIGHUP, when D-Bus is not reachable).</summary>
    public required string Via { get; init; }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = true)]
[JsonSerializable(typeof(RestartReport))]
[JsonSerializable(typeof(ReloadReport))]
internal sealed partial class CommandReportJsonContext : JsonSerializerContext;
