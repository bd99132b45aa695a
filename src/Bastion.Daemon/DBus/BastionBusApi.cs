using Bastion.Api;
using Bastion.Config;
using Bastion.Daemon.Vnc;
using Bastion.IO;
using Bastion.Status;
using Bastion.Supervision;
using Microsoft.Extensions.Logging;
using Tmds.DBus.Protocol;

namespace Bastion.Daemon.DBus;

/// <summary>
/// bastiond's D-Bus API (org.bastion.Bastion1, declared in org.bastion.Bastion1.xml) on Tmds.DBus.Protocol. Read-only methods
/// and properties answer from the last view the control loop published (<see cref="Publish"/>), so they agree with
/// status.json and never wait for the loop; RestartComponent, Reload and ControlVnc pass the admin gate (the caller's uid from
/// the bus) and are then queued to the loop and answered when it is done (deferred replies).
/// Signals: ComponentStateChanged for every transition the loop saw, PropertiesChanged for the daemon's properties.
/// </summary>
internal sealed partial class BastionBusApi : IDisposable
{
    private const int ShownNameLength = 64;

    private readonly IDaemonControl _control;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly AdminGate _gate;
    private readonly BusLink _link;
    private volatile StatusSnapshot _view;
    private Dictionary<string, PropertyValue> _announced; // control loop only

    private BastionBusApi(BusTarget target, StatusSnapshot initial, IDaemonControl control, AdminGate gate, ILogger logger, TimeProvider time)
    {
        _control = control;
        _logger = logger;
        _time = time;
        _gate = gate;
        CheckPropertyTypes(initial.Daemon);
        _view = initial;
        _announced = ChangingValues(initial.Daemon);
        Target = target;
        _link = new BusLink(target, BastionApi.BusName, new Handler(this), Announce, logger, time);
    }

    public BusTarget Target { get; }

    public static BusTarget? TargetOf(DbusConfig config) => config.Bus switch
    {
        BusKind.System => BusTarget.System,
        BusKind.Session => BusTarget.Session,
        BusKind.Address => BusTarget.At(config.Address ?? ""),
        _ => null,
    };

    /// <summary>Starts serving (reconnecting by itself); null when the config says <c>bus: none</c>.</summary>
    public static BastionBusApi? Start(DbusConfig config, StatusSnapshot initial, IDaemonControl control, ILogger logger, TimeProvider time)
    {
        if (TargetOf(config) is not { } target)
        {
            DbusLog.Disabled(logger);
            return null;
        }
        var api = new BastionBusApi(target, initial, control, AdminGate.ForLocalAccounts(config.AdminGroup), logger, time);
        api._link.Start();
        return api;
    }

    /// <summary>Completes once the first connection attempt has succeeded or failed (or after <paramref name="timeout"/>).</summary>
    public Task WaitForFirstAttemptAsync(TimeSpan timeout) =>
        _link.FirstAttempt.WaitAsync(timeout, _time).ContinueWith(_ => { }, TaskScheduler.Default);

    /// <summary>Called by the control loop after every publish: the new view, and the transitions it includes, in order.</summary>
    public void Publish(StatusSnapshot view, IReadOnlyList<(ComponentId Id, StateRecord State)> transitions)
    {
        _view = view;
        var values = ChangingValues(view.Daemon);
        var changed = values.Where(p => p.Value != _announced[p.Key]).Select(p => p.Key).ToList();
        _announced = values;
        if (transitions.Count == 0 && changed.Count == 0)
        {
            return;
        }
        _link.WithConnection(connection =>
        {
            foreach (var (id, state) in transitions)
            {
                connection.TrySendMessage(StateChanged(connection, id.Kind, id.Name, state.State.ToString(), state.Reason, state.Since));
            }
            if (changed.Count > 0)
            {
                connection.TrySendMessage(PropertiesChanged(connection, changed, values));
            }
        });
    }

    public void Dispose() => _link.Dispose();

    /// <summary>After a (re)connection: the current state of everything, not a replay of the outage.</summary>
    private void Announce(DBusConnection connection)
    {
        var view = _view;
        foreach (var c in view.Components)
        {
            connection.TrySendMessage(StateChanged(connection, c.Kind, c.Name, c.State, c.Reason, c.Since));
        }
        var values = ChangingValues(view.Daemon);
        connection.TrySendMessage(PropertiesChanged(connection, [.. values.Keys], values));
    }

    // ---- mutating calls: arguments checked at once, carried out after the gate ----

    private Command Restart(string kind, string name) => new($"{Shown(kind)}/{Shown(name)}", async () =>
    {
        var component = Find(_view, kind, name);
        var id = new ComponentId(component.Kind, component.Name);
        var done = new TaskCompletionSource<string?>(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!_control.RequestRestart(id, done))
        {
            throw NotRunning();
        }
        string? instance;
        try
        {
            instance = await done.Task.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            throw new BusException(BastionApi.ErrorNotRunning, $"the restart of {id} was not carried out: the daemon is stopping");
        }
#pragma warning disable CA1031 // Any failure of the restart is the caller's answer, with the reason.
        catch (Exception failure)
#pragma warning restore CA1031
        {
            throw new BusException(BusErrors.Failed, $"the restart of {id} failed: {failure.Message} (see bastiond's log)");
        }
        return instance is null
            ? throw new BusException(BastionApi.ErrorUnknownComponent, $"{id} was removed before it could be restarted")
            : (ref MessageWriter w) => w.WriteString(instance);
    });

    private Command Reload() => new(_view.Daemon.ConfigPath, async () =>
    {
        var done = new TaskCompletionSource<ReloadOutcome>(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!_control.RequestReload(done))
        {
            throw NotRunning();
        }
        ReloadOutcome outcome;
        try
        {
            outcome = await done.Task.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            throw new BusException(BastionApi.ErrorNotRunning, "the reload was not carried out: the daemon is stopping");
        }
#pragma warning disable CA1031 // See above.
        catch (Exception failure)
#pragma warning restore CA1031
        {
            throw new BusException(BusErrors.Failed, $"the reload failed: {failure.Message} (see bastiond's log)");
        }
        return (ref MessageWriter w) =>
        {
            w.WriteBool(outcome.Applied);
            w.WriteArray(outcome.Errors.Select(ComponentCodec.Text).ToArray());
        };
    });

    /// <summary>The longest override ControlVnc accepts (a year): beyond it, an admin meant "until changed" (for_seconds 0).</summary>
    private static readonly TimeSpan LongestVncOverride = TimeSpan.FromDays(366);

    private Command ControlVnc(string actionName, ulong seconds, bool force)
    {
        var action = actionName switch
        {
            "start" => VncCommandAction.Start,
            "stop" => VncCommandAction.Stop,
            "auto" => VncCommandAction.Auto,
            _ => throw new BusException(BusErrors.InvalidArgs,
                $"unknown action '{Shown(actionName)}'; ControlVnc takes {string.Join(", ", BastionApi.VncActions)}"),
        };
        if (seconds > (ulong)LongestVncOverride.TotalSeconds)
        {
            throw new BusException(BusErrors.InvalidArgs,
                $"for_seconds {seconds} is more than {Durations.Format(LongestVncOverride)}; 0 means until changed");
        }
        var duration = seconds == 0 || action == VncCommandAction.Auto ? (TimeSpan?)null : TimeSpan.FromSeconds(seconds);
        var command = new VncCommand(action, duration, force && action == VncCommandAction.Stop);
        return new Command(Describe(command), async () =>
        {
            var done = new TaskCompletionSource<VncCommandOutcome?>(TaskCreationOptions.RunContinuationsAsynchronously);
            if (!_control.RequestVncControl(command, done))
            {
                throw NotRunning();
            }
            var configPath = _view.Daemon.ConfigPath;
            VncCommandOutcome? outcome;
            try
            {
                outcome = await done.Task.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                throw new BusException(BastionApi.ErrorNotRunning, $"vnc {actionName} was not carried out: the daemon is stopping");
            }
            catch (VncUnavailableException unavailable)
            {
                throw new BusException(BusErrors.Failed, unavailable.Message);
            }
#pragma warning disable CA1031 // See above.
            catch (Exception failure)
#pragma warning restore CA1031
            {
                throw new BusException(BusErrors.Failed, $"vnc {actionName} failed: {failure.Message} (see bastiond's log)");
            }
            return outcome is null
                ? throw new BusException(BastionApi.ErrorVncNotConfigured, $"vnc.mode is off in {configPath}; set vnc.mode: fallback or always (then reload)")
                : (ref MessageWriter w) =>
                {
                    w.WriteBool(outcome.Applied);
                    w.WriteString(ComponentCodec.Text(outcome.Message));
                };
        });
    }

    /// <summary>The command as the log shows it: "start for 30m", "stop (force)", "auto".</summary>
    private static string Describe(VncCommand command) =>
        command.Action.ToString().ToLowerInvariant()
        + (command.For is { } d ? " for " + Durations.Format(d) : "")
        + (command.Force ? " (force)" : "");

    /// <summary>
    /// The second gate and the audit line of a mutating call, naming who asked: "uid 0 (root) pid 1234 :1.42". One round trip
    /// to the bus daemon (see <see cref="CallerCredentials.QueryAsync"/>). Null when the caller may go ahead; else the AccessDenied
    /// message. A caller the bus cannot identify (typically one that sent the call without waiting and has left) is refused.
    /// </summary>
    private async Task<string?> AdmitAsync(DBusConnection connection, string sender, string member, string target)
    {
        var caller = await CallerCredentials.QueryAsync(connection, sender, _time).ConfigureAwait(false);
        var who = caller.Describe(uid => LocalAccounts.NameOf(uid));
        if (_gate.Refusal(caller, member) is { } refusal)
        {
            DbusLog.RequestRefused(_logger, member, target, who, refusal);
            return refusal;
        }
        if (caller.Problem is null)
        {
            DbusLog.Request(_logger, member, target, who);
        }
        else
        {
            DbusLog.RequestUnidentified(_logger, member, target, who);
        }
        return null;
    }

    private static BusException NotRunning() => new(BastionApi.ErrorNotRunning, "bastiond is stopping; it takes no more requests");

    private static ComponentStatus Find(StatusSnapshot view, string kind, string name) =>
        view.Components.FirstOrDefault(c => c.Kind == kind && c.Name == name)
        ?? throw new BusException(BastionApi.ErrorUnknownComponent,
            $"no component {Shown(kind)}/{Shown(name)}; ListComponents (or bastionctl status) lists them");

    /// <summary>An argument quoted in an error message, cut short: a caller may send megabytes.</summary>
    private static string Shown(string value) =>
        value.Length <= ShownNameLength ? value : value[..ShownNameLength] + $"…({value.Length} characters)";

    private static void WriteStatus(ref MessageWriter w, StatusSnapshot view)
    {
        var d = view.Daemon;
        w.WriteString(ComponentCodec.Text(d.State));
        w.WriteString(ComponentCodec.Text(d.Summary));
        w.WriteString(ComponentCodec.Text(d.Version));
        w.WriteUInt32((uint)d.Pid);
        w.WriteString(ComponentCodec.Text(d.ConfigPath));
        w.WriteInt64(ComponentCodec.ToMicroseconds(d.StartedAt));
        w.WriteInt64(d.LastReloadAt is { } at ? ComponentCodec.ToMicroseconds(at) : 0);
        w.WriteArray(d.ConfigErrors.Select(ComponentCodec.Text).ToArray());
        w.WriteInt64(ComponentCodec.ToMicroseconds(d.WrittenAt));
        ComponentCodec.WriteArray(ref w, view.Components);
    }

    private static MessageBuffer StateChanged(DBusConnection connection, string kind, string name, string state, string reason, DateTimeOffset since)
    {
        var w = connection.GetMessageWriter();
        try
        {
            w.WriteSignalHeader(null, BastionApi.ObjectPath, BastionApi.Interface, "ComponentStateChanged", StateChangedSignature);
            w.WriteString(ComponentCodec.Text(kind));
            w.WriteString(ComponentCodec.Text(name));
            w.WriteString(ComponentCodec.Text(state));
            w.WriteString(ComponentCodec.Text(reason));
            w.WriteInt64(ComponentCodec.ToMicroseconds(since));
            return w.CreateMessage();
        }
        finally
        {
            w.Dispose();
        }
    }

    private static MessageBuffer PropertiesChanged(DBusConnection connection, IReadOnlyList<string> names, Dictionary<string, PropertyValue> values)
    {
        var w = connection.GetMessageWriter();
        try
        {
            w.WriteSignalHeader(null, BastionApi.ObjectPath, PropertiesInterface, "PropertiesChanged", "sa{sv}as");
            w.WriteString(BastionApi.Interface);
            var changed = w.WriteDictionaryStart();
            foreach (var name in names)
            {
                w.WriteDictionaryEntryStart();
                w.WriteString(name);
                values[name].WriteVariant(ref w);
            }
            w.WriteDictionaryEnd(changed);
            w.WriteArray(Array.Empty<string>());
            return w.CreateMessage();
        }
        finally
        {
            w.Dispose();
        }
    }
}
