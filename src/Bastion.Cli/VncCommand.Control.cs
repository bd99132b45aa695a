using System.CommandLine;
using Bastion.Config;
using Bastion.Api;
using Bastion.Vnc;

namespace Bastion.Cli;

/// <summary>
/// <c>vnc start [--for D]</c>, <c>vnc stop [--for D] [--force]</c>, <c>vnc auto</c> (D-Bus ControlVnc: they override the
/// fallback policy) and <c>vnc password</c> (reads the password file the component reports).
/// </summary>
internal sealed partial class VncCommand
{
    /// <summary>The daemon answers at once (the component only records the override); generous for a loaded machine.</summary>
    private static readonly TimeSpan ControlTimeout = TimeSpan.FromSeconds(30);

    /// <summary>As the daemon's ControlVnc accepts: longer than this is "until changed" (leave --for out).</summary>
    private static readonly TimeSpan LongestOverride = TimeSpan.FromDays(366);

    private Command CreateStart()
    {
        var duration = ForOption("raised");
        var command = new Command("start", "Raise the desktop now, whatever sshd does (until `vnc auto`, or for --for)") { duration };
        command.SetAction(parseResult => console.Run(() => Control(parseResult, "start", parseResult.GetValue(duration), force: false)));
        return command;
    }

    private Command CreateStop()
    {
        var duration = ForOption("lowered");
        var force = new Option<bool>("--force") { Description = "Lower it now even while clients are connected (cuts them off); without it the desktop lowers once they have left" };
        var command = new Command("stop", "Lower the desktop and keep it down, whatever sshd does (until `vnc auto`, or for --for)") { duration, force };
        command.SetAction(parseResult => console.Run(() => Control(parseResult, "stop", parseResult.GetValue(duration), parseResult.GetValue(force))));
        return command;
    }

    private Command CreateAuto()
    {
        var command = new Command("auto", "Drop the override: back to what vnc.mode says (fallback: raised while sshd fails its check)");
        command.SetAction(parseResult => console.Run(() => Control(parseResult, "auto", null, force: false)));
        return command;
    }

    private static Option<string> ForOption(string what) => new("--for")
    {
        Description = $"Keep it {what} this long, then back to the policy (e.g. 30m, 2h) [default: until `vnc auto`]",
        HelpName = "DURATION",
    };

    private int Control(ParseResult parseResult, string action, string? forText, bool force)
    {
        _ = RuntimeDirectory.Resolve(parseResult, globalOptions); // the same option checks as every command
        var duration = ParseFor(forText);
        var target = DaemonBus.Resolve(parseResult, globalOptions, out var why);
        using var bus = DaemonBus.TryConnect(target, ref why) ?? throw Unreachable(action, why ?? "no bus");
        try
        {
            var (applied, message) = bus.ControlVnc(action, duration, force, ControlTimeout);
            if (!applied)
            {
                throw new CommandException(ExitCodes.Failed, $"vnc {action} not applied: {message}");
            }
            console.Output.WriteLine(message);
            return ExitCodes.Ok;
        }
        catch (BusException e) when (e.Name != BusErrors.NoReply && DaemonBus.IsUnreachable(e))
        {
            throw Unreachable(action, bus.Unreachable(e));
        }
        catch (BusException e)
        {
            throw e.Name switch
            {
                BastionApi.ErrorVncNotConfigured => new CommandException(ExitCodes.Failed, "the emergency desktop is not configured: " + e.Message),
                BusErrors.AccessDenied => new CommandException(ExitCodes.Failed,
                    $"not allowed to {action} the emergency desktop: only root and members of bastiond's admin group may (the D-Bus policy and bastiond both check): {e.Message}"),
                BusErrors.NoReply => new CommandException(ExitCodes.Failed, $"bastiond did not confirm vnc {action} in time ({e.Message}) — check: bastionctl vnc status"),
                BusErrors.Failed or BastionApi.ErrorNotRunning => new CommandException(ExitCodes.Failed, $"vnc {action}: {e.Message}"),
                _ => new CommandException(ExitCodes.Failed, $"vnc {action} failed: {e.Name}: {e.Message}"),
            };
        }
    }

    private static TimeSpan? ParseFor(string? text)
    {
        if (text is null)
        {
            return null;
        }
        if (!Durations.TryParse(text, out var duration, out var error))
        {
            throw new CommandException(ExitCodes.Usage, $"--for: {error}");
        }
        if (duration < TimeSpan.FromSeconds(1) || duration > LongestOverride)
        {
            throw new CommandException(ExitCodes.Usage,
                $"--for {text}: give 1s to {Durations.Format(LongestOverride)}, or leave --for out to keep it until `bastionctl vnc auto`");
        }
        return duration;
    }

    private static CommandException Unreachable(string action, string why) => new(ExitCodes.DaemonUnreachable,
        $"vnc {action} needs bastiond's D-Bus API, which is not reachable: {why} — without it, set vnc.mode (always | fallback | off) in the config and reload (bastionctl reload falls back to SIGHUP)");

    private Command CreatePassword()
    {
        var command = new Command("password", "Print the VNC password (the second factor after your client certificate); needs read access to the password file (root)");
        command.SetAction(parseResult => console.Run(() => Password(parseResult)));
        return command;
    }

    private int Password(ParseResult parseResult)
    {
        var reading = ReadStatus(parseResult);
        var desktop = reading.Snapshot.Components.FirstOrDefault(c => c.Kind == BastionApi.VncKind)
            ?? throw NotConfigured(reading.Snapshot.Daemon.ConfigPath);
        if (!desktop.Details.TryGetValue("passwordFile", out var path) || path.Length == 0)
        {
            throw new CommandException(ExitCodes.Failed,
                $"{desktop.Kind}/{desktop.Name} does not report its password file yet ({desktop.State}: {desktop.Reason}) — see bastionctl vnc status");
        }
        byte[] content;
        try
        {
            content = File.ReadAllBytes(path);
        }
        catch (UnauthorizedAccessException)
        {
            throw new CommandException(ExitCodes.Failed,
                $"cannot read the VNC password file {path}: permission denied — it is private to root (0600); run: sudo bastionctl vnc password");
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new CommandException(ExitCodes.Failed,
                $"the VNC password file {path} does not exist — bastiond creates it when the vnc component starts (vnc.passwordFile unset); see bastionctl vnc status");
        }
        catch (IOException e)
        {
            throw new CommandException(ExitCodes.Failed, $"cannot read the VNC password file {path}: {e.Message}");
        }
        string password;
        try
        {
            password = VncPasswordFile.Decode(content);
        }
        catch (InvalidDataException e)
        {
            throw new CommandException(ExitCodes.Failed, $"{path}: {e.Message}");
        }
        finally
        {
            Array.Clear(content);
        }
        console.Output.WriteLine(password);
        return ExitCodes.Ok;
    }
}
