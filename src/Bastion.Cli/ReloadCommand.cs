using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Text.Json;
using Bastion.Config;
using Bastion.Api;
using Bastion.Status;

namespace Bastion.Cli;

/// <summary>
/// <c>bastionctl reload [--timeout 30s] [--json]</c>: asks bastiond over D-Bus (Reload), which answers once the config is
/// applied or refused. When D-Bus or the daemon's name is not there, falls back to SIGHUP to the bastiond named in
/// status.json, then waits until the status file shows a reload that finished after the signal (<c>daemon.lastReloadAt</c>
/// changed and state <c>running</c>).
/// Prints <c>reloaded</c> (exit 0); or the refused config's errors (exit 1: the daemon keeps the last good config);
/// exit 1 on timeout; exit 3 when there is no running bastiond to signal.
/// </summary>
internal sealed class ReloadCommand(GlobalOptions globalOptions, CliConsole console)
{
    private static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(100);

    /// <summary>A reload that takes longer than this gets a "waiting" line, so nobody stares at a silent terminal.</summary>
    private static readonly TimeSpan QuietPeriod = TimeSpan.FromSeconds(2);

    public Command Create()
    {
        var timeout = new Option<TimeSpan?>("--timeout")
        {
            Description = "How long to wait for the daemon to apply or refuse the config, e.g. 10s or 1m [default: 30s]",
            HelpName = "DURATION",
            CustomParser = ParseTimeout,
        };
        var json = new Option<bool>("--json") { Description = "Print the outcome as JSON: {\"applied\", \"errors\", \"via\"}" };
        var command = new Command("reload", "Re-read the config and wait until the daemon has applied or refused it") { timeout, json };
        command.SetAction(parseResult => console.Run(() => Reload(parseResult, parseResult.GetValue(timeout) ?? DefaultTimeout, parseResult.GetValue(json))));
        return command;
    }

    private int Reload(ParseResult parseResult, TimeSpan timeout, bool json)
    {
        var runtimeDir = RuntimeDirectory.Resolve(parseResult, globalOptions);
        var target = DaemonBus.Resolve(parseResult, globalOptions, out var why);
        using (var bus = DaemonBus.TryConnect(target, ref why))
        {
            if (bus is not null)
            {
                try
                {
                    var (applied, errors) = bus.Reload(timeout);
                    return Report(applied, errors, "dbus", json);
                }
                catch (BusException e) when (e.Name != BusErrors.NoReply && DaemonBus.IsUnreachable(e))
                {
                    // Not on the bus: the signal below still reaches it.
                }
                catch (BusException e)
                {
                    throw RestartCommand.Failure(e, "reload");
                }
            }
        }
        return ReloadBySignal(runtimeDir, timeout, json);
    }

    private int Report(bool applied, IReadOnlyList<string> errors, string via, bool json)
    {
        if (json)
        {
            console.Output.WriteLine(JsonSerializer.Serialize(new ReloadReport { Applied = applied, Errors = errors, Via = via },
                CommandReportJsonContext.Default.ReloadReport));
        }
        if (!applied)
        {
            console.Message("reload refused: the config has errors; the daemon keeps running on the last good config.");
            foreach (var error in errors)
            {
                console.Error.WriteLine("  " + error);
            }
            return ExitCodes.Failed;
        }
        if (!json)
        {
            console.Output.WriteLine("reloaded");
        }
        return ExitCodes.Ok;
    }

    private int ReloadBySignal(string runtimeDir, TimeSpan timeout, bool json)
    {
        var path = Path.Combine(runtimeDir, StatusSnapshot.FileName);
        var before = DaemonStatusReader.ReadSnapshot(path).Daemon;

        using var daemon = DaemonSignal.Open(before.Pid, path, console.Time);
        if (before.State is "starting" or "stopping")
        {
            // While starting, the SIGHUP handler may not be installed yet, and SIGHUP's default action ends the process.
            throw new CommandException(ExitCodes.Failed,
                $"bastiond (pid {Pid(before)}) is {before.State}; not reloading now — try again once `bastionctl status` says running");
        }

        daemon.SendHangup();
        var after = WaitForReload(path, before, daemon, timeout);

        if (after.ConfigErrors.Count > 0 && !json)
        {
            console.Message($"reload refused: {after.ConfigPath} has errors; the daemon keeps running on the last good config.");
            foreach (var error in after.ConfigErrors)
            {
                console.Error.WriteLine("  " + error);
            }
            return ExitCodes.Failed;
        }
        return Report(after.ConfigErrors.Count == 0, after.ConfigErrors, "signal", json);
    }

    /// <summary>
    /// Polls the status file until the reload shows. "Changed" rather than "later than" for <c>lastReloadAt</c>: the daemon
    /// writes it from the wall clock, which may be stepped backwards between two reloads.
    /// </summary>
    private DaemonStatus WaitForReload(string path, DaemonStatus before, DaemonSignal daemon, TimeSpan timeout)
    {
        var time = console.Time;
        var started = time.GetTimestamp();
        var announced = false;
        var last = before;
        while (true)
        {
            Thread.Sleep(PollInterval);
            if (!daemon.IsAlive)
            {
                throw new CommandException(ExitCodes.DaemonUnreachable,
                    $"bastiond (pid {Pid(before)}) exited during the reload — see: journalctl -u bastion -n 50");
            }
            var current = TryReadDaemonStatus(path) ?? last;
            if (current.Pid != before.Pid)
            {
                throw new CommandException(ExitCodes.Failed,
                    $"{path} now names pid {Pid(current)}, not {Pid(before)}: bastiond was restarted during the reload — check: bastionctl status");
            }
            last = current;
            if (current.State == "running" && current.LastReloadAt is not null && current.LastReloadAt != before.LastReloadAt)
            {
                return current;
            }

            var elapsed = time.GetElapsedTime(started);
            if (elapsed >= timeout)
            {
                throw new CommandException(ExitCodes.Failed,
                    $"bastiond (pid {Pid(before)}) did not finish the reload within {Durations.Format(timeout)} (state: {current.State})"
                    + " — see: journalctl -u bastion -n 50");
            }
            if (!announced && elapsed >= QuietPeriod)
            {
                console.Message($"waiting for bastiond (pid {Pid(before)}) to finish the reload (up to {Durations.Format(timeout)})…");
                announced = true;
            }
        }
    }

    /// <summary>The daemon replaces the file atomically, but a read can still fail (e.g. it was just removed at shutdown): try again next poll.</summary>
    private static DaemonStatus? TryReadDaemonStatus(string path)
    {
        try
        {
            return DaemonStatusReader.ReadSnapshot(path).Daemon;
        }
        catch (CommandException)
        {
            return null;
        }
    }

    private static TimeSpan? ParseTimeout(ArgumentResult result)
    {
        var text = result.Tokens.Count > 0 ? result.Tokens[0].Value : "";
        if (!Durations.TryParse(text, out var value, out var error))
        {
            result.AddError("--timeout: " + error);
            return null;
        }
        if (value <= TimeSpan.Zero)
        {
            result.AddError("--timeout must be longer than 0s, e.g. --timeout 30s");
            return null;
        }
        return value;
    }

    private static string Pid(DaemonStatus status) => status.Pid.ToString(CultureInfo.InvariantCulture);
}
