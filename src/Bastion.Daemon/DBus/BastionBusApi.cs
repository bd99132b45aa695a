using Bastion.Config;
using Bastion.Daemon.Vnc;
using Bastion.IO;
using Bastion.SdBus;
using Bastion.Status;
using Bastion.Supervision;
using Microsoft.Extensions.Logging;

namespace Bastion.Daemon.DBus;

/// <summary>
/// bastiond's D-Bus API (org.bastion.Bastion1, declared in org.bastion.Bastion1.xml). Read-only methods and properties
/// answer from the last view the control loop published (<see cref="Publish"/>), so they agree with status.json and
/// never wait for the loop; RestartComponent, Reload and ControlVnc are queued to the loop and answered when it is done.
/// Signals: ComponentStateChanged for every transition the loop saw, PropertiesChanged for the daemon's properties.
/// </summary>
internal sealed class BastionBusApi : IBusObject, IBusObserver, IDisposable
{
    private const int ShownNameLength = 64;
    private static readonly string[] ChangingProperties = ["State", "Status", "ConfigPath", "LastReloadAt", "ConfigErrors"];

    private readonly IDaemonControl _control;
    private readonly ILogger _logger;
    private readonly BusService _service;
    private volatile StatusSnapshot _view;
    private Dictionary<string, string> _announced; // control loop only
    private string? _lastConnectError;

    private BastionBusApi(BusTarget target, StatusSnapshot initial, IDaemonControl control, ILogger logger)
    {
        _control = control;
        _logger = logger;
        _view = initial;
        _announced = PropertyValues(initial);
        Target = target;
        _service = new BusService(target, BastionApi.BusName, BastionApi.ObjectPath, Description.Value, this, this);
    }

    public BusTarget Target { get; }

    /// <summary>The interface, parsed once from the embedded XML.</summary>
    public static readonly Lazy<InterfaceDescription> Description = new(() =>
    {
        using var stream = typeof(BastionBusApi).Assembly.GetManifestResourceStream("org.bastion.Bastion1.xml")
            ?? throw new InvalidOperationException("org.bastion.Bastion1.xml is not embedded");
        using var reader = new StreamReader(stream);
        return InterfaceDescription.Parse(reader.ReadToEnd(), BastionApi.Interface);
    });

    public static BusTarget? TargetOf(DbusConfig config) => config.Bus switch
    {
        BusKind.System => BusTarget.System,
        BusKind.Session => BusTarget.Session,
        BusKind.Address => BusTarget.At(config.Address ?? ""),
        _ => null,
    };

    /// <summary>Starts serving (on its own thread); null when the config says <c>bus: none</c>.</summary>
    public static BastionBusApi? Start(DbusConfig config, StatusSnapshot initial, IDaemonControl control, ILogger logger)
    {
        if (TargetOf(config) is not { } target)
        {
            DbusLog.Disabled(logger);
            return null;
        }
        var api = new BastionBusApi(target, initial, control, logger);
        api._service.Start();
        return api;
    }

    /// <summary>Completes once the first connection attempt has succeeded or failed (or after <paramref name="timeout"/>).</summary>
    public Task WaitForFirstAttemptAsync(TimeSpan timeout) =>
        _service.FirstAttempt.WaitAsync(timeout).ContinueWith(_ => { }, TaskScheduler.Default);

    /// <summary>Called by the control loop after every publish: the new view, and the transitions it includes, in order.</summary>
    public void Publish(StatusSnapshot view, IReadOnlyList<(ComponentId Id, StateRecord State)> transitions)
    {
        _view = view;
        var values = PropertyValues(view);
        var changed = ChangingProperties.Where(p => values[p] != _announced[p]).ToList();
        _announced = values;
        if (transitions.Count == 0 && changed.Count == 0)
        {
            return;
        }
        _service.Post(sender =>
        {
            foreach (var (id, state) in transitions)
            {
                EmitStateChanged(sender, id.Kind, id.Name, state.State.ToString(), state.Reason, state.Since);
            }
            sender.EmitPropertiesChanged(changed);
        });
    }

    public void Dispose() => _service.Dispose();

    // ---- IBusObject (on the connection's thread) ----

    public void Connected(BusSender sender)
    {
        // After a (re)connection: the current state of everything, not a replay of the outage.
        var view = _view;
        foreach (var c in view.Components)
        {
            EmitStateChanged(sender, c.Kind, c.Name, c.State, c.Reason, c.Since);
        }
        sender.EmitPropertiesChanged(ChangingProperties);
    }

    public void HandleMethod(BusCall request)
    {
        var view = _view;
        switch (request.Member)
        {
            case "GetStatus":
                request.Reply(m => WriteStatus(m, view));
                break;
            case "ListComponents":
                request.Reply(m => ComponentCodec.WriteArray(m, view.Components));
                break;
            case "ListTunnels":
                request.Reply(m => ComponentCodec.WriteArray(m, view.Components.Where(c => c.Kind == BastionApi.TunnelKind)));
                break;
            case "GetComponent":
            {
                var component = Find(view, request.Arguments.ReadString(), request.Arguments.ReadString());
                request.Reply(m => ComponentCodec.Write(m, component));
                break;
            }
            case "RestartComponent":
                Restart(request, view);
                break;
            case "Reload":
                Reload(request);
                break;
            case "ControlVnc":
                ControlVnc(request);
                break;
            default:
                throw new BusException(BusErrors.UnknownMethod, $"no method {request.Member} in {BastionApi.Interface}");
        }
    }

    public void AppendProperty(string name, BusMessage reply)
    {
        var daemon = _view.Daemon;
        switch (name)
        {
            case "Version": reply.Append(daemon.Version); break;
            case "Pid": reply.Append((uint)daemon.Pid); break;
            case "StartedAt": reply.Append(ComponentCodec.ToMicroseconds(daemon.StartedAt)); break;
            case "State": reply.Append(daemon.State); break;
            case "Status": reply.Append(daemon.Summary); break;
            case "ConfigPath": reply.Append(daemon.ConfigPath); break;
            case "LastReloadAt": reply.Append(daemon.LastReloadAt is { } at ? ComponentCodec.ToMicroseconds(at) : 0); break;
            case "ConfigErrors": reply.AppendStrings(daemon.ConfigErrors); break;
            default: throw new BusException(BusErrors.InvalidArgs, $"no property {name}");
        }
    }

    private void Restart(BusCall request, StatusSnapshot view)
    {
        var kind = request.Arguments.ReadString();
        var name = request.Arguments.ReadString();
        var component = Find(view, kind, name);
        var id = new ComponentId(component.Kind, component.Name);
        var target = id.ToString();
        LogRequest(request, "RestartComponent", target);
        var done = new TaskCompletionSource<string?>(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!_control.RequestRestart(id, done))
        {
            throw NotRunning();
        }
        var reply = request.Defer();
        done.Task.ContinueWith(t =>
        {
            if (t.IsCompletedSuccessfully && t.Result is { } instance)
            {
                reply.Complete(m => m.Append(instance));
            }
            else if (t.IsCompletedSuccessfully)
            {
                reply.Fail(BastionApi.ErrorUnknownComponent, $"{id} was removed before it could be restarted");
            }
            else if (t.Exception?.InnerException is { } failure)
            {
                reply.Fail(BusErrors.Failed, $"the restart of {id} failed: {failure.Message} (see bastiond's log)");
            }
            else
            {
                reply.Fail(BastionApi.ErrorNotRunning, $"the restart of {id} was not carried out: the daemon is stopping");
            }
        }, TaskScheduler.Default);
    }

    private void Reload(BusCall request)
    {
        var configPath = _view.Daemon.ConfigPath;
        LogRequest(request, "Reload", configPath);
        var done = new TaskCompletionSource<ReloadOutcome>(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!_control.RequestReload(done))
        {
            throw NotRunning();
        }
        var reply = request.Defer();
        done.Task.ContinueWith(t =>
        {
            if (t.IsCompletedSuccessfully)
            {
                reply.Complete(m => m.Append(t.Result.Applied).AppendStrings(t.Result.Errors));
            }
            else if (t.Exception?.InnerException is { } failure)
            {
                reply.Fail(BusErrors.Failed, $"the reload failed: {failure.Message} (see bastiond's log)");
            }
            else
            {
                reply.Fail(BastionApi.ErrorNotRunning, "the reload was not carried out: the daemon is stopping");
            }
        }, TaskScheduler.Default);
    }

    /// <summary>The longest override ControlVnc accepts (a year): beyond it, an admin meant "until changed" (for_seconds 0).</summary>
    private static readonly TimeSpan LongestVncOverride = TimeSpan.FromDays(366);

    private void ControlVnc(BusCall request)
    {
        var actionName = request.Arguments.ReadString();
        var seconds = request.Arguments.ReadUInt64();
        var force = request.Arguments.ReadBool();
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
        var described = Describe(command);
        LogRequest(request, "ControlVnc", described);
        var done = new TaskCompletionSource<VncCommandOutcome?>(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!_control.RequestVncControl(command, done))
        {
            throw NotRunning();
        }
        var configPath = _view.Daemon.ConfigPath;
        var reply = request.Defer();
        done.Task.ContinueWith(t =>
        {
            if (t.IsCompletedSuccessfully && t.Result is { } outcome)
            {
                reply.Complete(m => m.Append(outcome.Applied).Append(outcome.Message));
            }
            else if (t.IsCompletedSuccessfully)
            {
                reply.Fail(BastionApi.ErrorVncNotConfigured, $"vnc.mode is off in {configPath}; set vnc.mode: fallback or always (then reload)");
            }
            else if (t.Exception?.InnerException is VncUnavailableException unavailable)
            {
                reply.Fail(BusErrors.Failed, unavailable.Message);
            }
            else if (t.Exception?.InnerException is { } failure)
            {
                reply.Fail(BusErrors.Failed, $"vnc {actionName} failed: {failure.Message} (see bastiond's log)");
            }
            else
            {
                reply.Fail(BastionApi.ErrorNotRunning, $"vnc {actionName} was not carried out: the daemon is stopping");
            }
        }, TaskScheduler.Default);
    }

    /// <summary>The command as the log shows it: "start for 30m", "stop (force)", "auto".</summary>
    private static string Describe(VncCommand command) =>
        command.Action.ToString().ToLowerInvariant()
        + (command.For is { } d ? " for " + Durations.Format(d) : "")
        + (command.Force ? " (force)" : "");

    /// <summary>
    /// The audit line of a mutating call, naming who asked: "uid 0 (root) pid 1234 :1.42". One round trip to the bus daemon
    /// (see <see cref="BusCall.QueryCaller"/>). A caller it cannot identify (typically one that sent the call without
    /// waiting for the reply and has already left) is logged as "uid ?" with a warning, and the call goes ahead: the
    /// policy file already decided who may call; the audit must never be the reason a restart is refused.
    /// </summary>
    private void LogRequest(BusCall request, string member, string target)
    {
        var caller = request.QueryCaller();
        var who = caller.Describe(uid => LocalAccounts.NameOf(uid));
        if (caller.Problem is null)
        {
            DbusLog.Request(_logger, member, target, who);
        }
        else
        {
            DbusLog.RequestUnidentified(_logger, member, target, who);
        }
    }

    private static BusException NotRunning() => new(BastionApi.ErrorNotRunning, "bastiond is stopping; it takes no more requests");

    private static ComponentStatus Find(StatusSnapshot view, string kind, string name) =>
        view.Components.FirstOrDefault(c => c.Kind == kind && c.Name == name)
        ?? throw new BusException(BastionApi.ErrorUnknownComponent,
            $"no component {Shown(kind)}/{Shown(name)}; ListComponents (or bastionctl status) lists them");

    /// <summary>An argument quoted in an error message, cut short: a caller may send megabytes.</summary>
    private static string Shown(string value) =>
        value.Length <= ShownNameLength ? value : value[..ShownNameLength] + $"…({value.Length} characters)";

    private static void WriteStatus(BusMessage m, StatusSnapshot view)
    {
        var d = view.Daemon;
        m.Append(d.State).Append(d.Summary).Append(d.Version).Append((uint)d.Pid).Append(d.ConfigPath)
            .Append(ComponentCodec.ToMicroseconds(d.StartedAt))
            .Append(d.LastReloadAt is { } at ? ComponentCodec.ToMicroseconds(at) : 0)
            .AppendStrings(d.ConfigErrors)
            .Append(ComponentCodec.ToMicroseconds(d.WrittenAt));
        ComponentCodec.WriteArray(m, view.Components);
    }

    private static void EmitStateChanged(BusSender sender, string kind, string name, string state, string reason, DateTimeOffset since) =>
        sender.EmitSignal("ComponentStateChanged", m =>
            m.Append(kind).Append(name).Append(state).Append(reason).Append(ComponentCodec.ToMicroseconds(since)));

    private static Dictionary<string, string> PropertyValues(StatusSnapshot view) => new(StringComparer.Ordinal)
    {
        ["State"] = view.Daemon.State,
        ["Status"] = view.Daemon.Summary,
        ["ConfigPath"] = view.Daemon.ConfigPath,
        ["LastReloadAt"] = view.Daemon.LastReloadAt?.ToString("O", System.Globalization.CultureInfo.InvariantCulture) ?? "",
        ["ConfigErrors"] = string.Join('\n', view.Daemon.ConfigErrors),
    };

    // ---- IBusObserver (logging) ----

    void IBusObserver.Connected(string bus, string name)
    {
        _lastConnectError = null;
        DbusLog.Connected(_logger, name, bus);
    }

    void IBusObserver.ConnectFailed(string bus, string reason, TimeSpan retryIn)
    {
        // Once per distinct reason: a bus that stays down must not fill the journal every few seconds.
        if (reason != _lastConnectError)
        {
            _lastConnectError = reason;
            DbusLog.ConnectFailed(_logger, reason);
        }
        else
        {
            DbusLog.ConnectStillFailing(_logger, reason, retryIn);
        }
    }

    void IBusObserver.Disconnected(string bus, string reason) => DbusLog.Disconnected(_logger, bus, reason);

    void IBusObserver.HandlerFailed(string member, Exception exception) => DbusLog.HandlerFailed(_logger, member, exception);
}
