using Bastion.Config;
using Bastion.Daemon.Components;
using Bastion.Daemon.DBus;
using Bastion.Daemon.Vnc;
using Bastion.Fleet;
using Bastion.Supervision;

namespace Bastion.Daemon.Fleet;

/// <summary>Whether a fleet command did what it asked; the first word of the reply (<c>ok:</c> / <c>failed:</c>).</summary>
internal enum FleetReplyOutcome
{
    Ok,
    Failed,
}

/// <summary>
/// Executes an accepted fleet command through the daemon's control path, the same queue the D-Bus API uses
/// (<see cref="IDaemonControl"/>): <c>status</c>, <c>reload</c>, <c>restart KIND/NAME</c>, <c>vnc start [--for D]</c>,
/// <c>vnc stop</c>, <c>vnc auto</c>. Nothing that runs arbitrary commands.
/// </summary>
internal sealed class FleetCommandRunner(DaemonRuntime runtime)
{
    private static readonly TimeSpan Answer = TimeSpan.FromMinutes(5);

    public static string Encode(FleetReplyOutcome outcome, string message) =>
        (outcome == FleetReplyOutcome.Ok ? "ok: " : "failed: ") + message;

    public async Task<string> RunAsync(FleetCommand command, CancellationToken cancellationToken)
    {
        if (runtime.Control is not { } control)
        {
            return Encode(FleetReplyOutcome.Failed, "the daemon is not taking commands yet");
        }
        var args = command.Args;
        switch (command.Command, args.Count)
        {
            case ("status", 0):
                return Encode(FleetReplyOutcome.Ok, runtime.Status.Last?.Daemon.Summary ?? "starting");
            case ("reload", 0):
            {
                var done = new TaskCompletionSource<ReloadOutcome>(TaskCreationOptions.RunContinuationsAsynchronously);
                if (!control.RequestReload(done))
                {
                    return Encode(FleetReplyOutcome.Failed, "the daemon is stopping");
                }
                var outcome = await done.Task.WaitAsync(Answer, runtime.Time, cancellationToken).ConfigureAwait(false);
                return outcome.Applied
                    ? Encode(FleetReplyOutcome.Ok, "reloaded")
                    : Encode(FleetReplyOutcome.Failed, "reload refused: " + string.Join("; ", outcome.Errors));
            }
            case ("restart", 1) when args[0].Split('/') is [{ Length: > 0 } kind, { Length: > 0 } name]:
            {
                var done = new TaskCompletionSource<string?>(TaskCreationOptions.RunContinuationsAsynchronously);
                if (!control.RequestRestart(new ComponentId(kind, name), done))
                {
                    return Encode(FleetReplyOutcome.Failed, "the daemon is stopping");
                }
                var instance = await done.Task.WaitAsync(Answer, runtime.Time, cancellationToken).ConfigureAwait(false);
                return instance is null
                    ? Encode(FleetReplyOutcome.Failed, $"no component {kind}/{name}")
                    : Encode(FleetReplyOutcome.Ok, $"{kind}/{name} restarted (instance {instance})");
            }
            case ("vnc", _) when ParseVnc(args) is { } vnc:
            {
                var done = new TaskCompletionSource<VncCommandOutcome?>(TaskCreationOptions.RunContinuationsAsynchronously);
                if (!control.RequestVncControl(vnc, done))
                {
                    return Encode(FleetReplyOutcome.Failed, "the daemon is stopping");
                }
                try
                {
                    var outcome = await done.Task.WaitAsync(Answer, runtime.Time, cancellationToken).ConfigureAwait(false);
                    return outcome is null
                        ? Encode(FleetReplyOutcome.Failed, "the emergency desktop is not configured (vnc.mode off)")
                        : Encode(outcome.Applied ? FleetReplyOutcome.Ok : FleetReplyOutcome.Failed, outcome.Message);
                }
                catch (VncUnavailableException e)
                {
                    return Encode(FleetReplyOutcome.Failed, e.Message);
                }
            }
            default:
                return Encode(FleetReplyOutcome.Failed,
                    $"unknown command '{command.Command}' with {args.Count} argument(s); the fleet takes: status, reload, restart KIND/NAME, vnc start [--for D], vnc stop, vnc auto");
        }
    }

    private static VncCommand? ParseVnc(IReadOnlyList<string> args) => args switch
    {
        ["start"] => new VncCommand(VncCommandAction.Start, null, false),
        ["start", "--for", var d] when Durations.TryParse(d, out var span, out _) && span > TimeSpan.Zero && span <= TimeSpan.FromDays(366)
            => new VncCommand(VncCommandAction.Start, span, false),
        ["stop"] => new VncCommand(VncCommandAction.Stop, null, false),
        ["auto"] => new VncCommand(VncCommandAction.Auto, null, false),
        _ => null,
    };
}
