using System.Threading.Channels;
using Bastion.Config;
using Bastion.Daemon.Components;
using Bastion.Daemon.DBus;
using Bastion.Daemon.Metrics;
using Bastion.Daemon.Systemd;
using Bastion.Daemon.Vnc;
using Bastion.Status;
using Bastion.Supervision;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Serilog.Core;

namespace Bastion.Daemon.Hosting;

/// <summary>
/// The daemon's control loop: the one owner of the config and the component set. Everything that changes
/// them (SIGHUP, state changes to publish, watchdog probes) arrives as a message on one channel, so they never
/// race. Sends READY/STATUS/RELOADING/WATCHDOG/STOPPING, keeps status.json current and feeds the D-Bus API: its
/// read-only calls answer from the view published here, its restarts and reloads arrive here as messages, and every
/// transition the loop sees becomes a ComponentStateChanged signal.
/// </summary>
internal sealed class DaemonService(
    BastionConfig initialConfig,
    Supervisor supervisor,
    SystemdNotifier notifier,
    LoggingLevelSwitch logLevel,
    SighupRelay sighup,
    DaemonRuntime runtime,
    TimeProvider time,
    ILogger<DaemonService> logger,
    ILoggerFactory loggers) : BackgroundService, IDaemonControl
{
    /// <summary>How long READY waits for the first D-Bus connection attempt (a missing bus fails at once; this bounds a slow one).</summary>
    private static readonly TimeSpan FirstBusAttemptWait = TimeSpan.FromSeconds(2);

    private abstract record Message;

    /// <summary>SIGHUP (Done null) or D-Bus Reload (answered with the outcome).</summary>
    private sealed record ReloadMessage(TaskCompletionSource<ReloadOutcome>? Done = null) : Message;
    private sealed record RestartMessage(ComponentId Id, TaskCompletionSource<string?> Done) : Message;
    private sealed record VncControlMessage(VncCommand Command, TaskCompletionSource<VncCommandOutcome?> Done) : Message;
    private sealed record StateChangedMessage(ComponentId Id, StateRecord State) : Message;
    private sealed record WatchdogProbe(TaskCompletionSource Answer) : Message;
    private sealed record RefreshMessage : Message;

    /// <summary>
    /// How often status.json is rewritten even without a transition: details such as a check's last probe change
    /// between transitions, and <c>writtenAt</c> doubles as a heartbeat a reader can judge the daemon by.
    /// </summary>
    internal static readonly TimeSpan StatusRefreshInterval = TimeSpan.FromSeconds(5);

    private readonly Channel<Message> _inbox = Channel.CreateUnbounded<Message>(new UnboundedChannelOptions { SingleReader = true });
    private readonly StatusPublisher _status = new(time, logger, time.GetUtcNow());
    private BastionConfig _config = initialConfig;
    private IReadOnlyList<string> _refusedReloadErrors = [];
    private DateTimeOffset? _lastReloadAt;
    private string _daemonState = "starting";
    private string _lastSummary = "";
    private BastionBusApi? _bus;
    private readonly MetricsHost _metrics = new(supervisor, runtime, time, loggers.CreateLogger("Bastion.Metrics"));
    private readonly MemoryTrim _memoryTrim = new(time, logger);
    private volatile bool _acceptingRequests = true;
    private readonly List<(ComponentId Id, StateRecord State)> _transitions = [];

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await RunAsync(stoppingToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
        {
            // The host stops on this; exit non-zero so systemd's Restart=on-failure brings us back.
            DaemonLog.ControlLoopError(logger, "the daemon", e);
            Environment.ExitCode = 1;
            throw;
        }
    }

    private async Task RunAsync(CancellationToken stoppingToken)
    {
        DaemonLog.Starting(logger, DaemonVersion.Text, Environment.ProcessId, _config.SourcePath);
        supervisor.StateChanged += OnStateChanged;
        runtime.Control = this;
        sighup.Listen(() => _inbox.Writer.TryWrite(new ReloadMessage()));
        try
        {
            supervisor.StopTimeout = _config.Supervision.StopTimeout;
            await supervisor.ApplyAsync(ComponentPlan.Build(_config, runtime)).ConfigureAwait(false);
            _daemonState = "running";
            var summary = Publish();
            _metrics.Apply(_config.Metrics);
            _memoryTrim.Schedule();
            _bus = BastionBusApi.Start(_config.Dbus, _status.Last!, this, loggers.CreateLogger("Bastion.DBus"), time);
            if (_bus is not null)
            {
                // The API is there when READY says so, unless the bus is not: then READY does not wait for it.
                await _bus.WaitForFirstAttemptAsync(FirstBusAttemptWait).ConfigureAwait(false);
            }
            notifier.Notify("READY=1\n" + SystemdNotifier.StatusLine(summary));
            DaemonLog.Ready(logger, summary);

            // Stops the helpers that feed the loop (watchdog probes, status refresh) when the loop ends.
            using var helpers = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
            var watchdogTask = notifier.WatchdogInterval is { } interval
                ? RunWatchdogAsync(interval, helpers.Token)
                : Task.CompletedTask;
            var refreshTask = RunStatusRefreshAsync(helpers.Token);
            try
            {
                await RunLoopAsync(stoppingToken).ConfigureAwait(false);
            }
            finally
            {
                await helpers.CancelAsync().ConfigureAwait(false);
                await watchdogTask.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                await refreshTask.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
        }
        finally
        {
            sighup.Listen(null);
            _acceptingRequests = false;
            FailPendingRequests();
            await StopEverythingAsync().ConfigureAwait(false);
            supervisor.StateChanged -= OnStateChanged;
            FailPendingRequests(); // one that slipped in while the loop was ending
            _bus?.Dispose();
            _metrics.Dispose();
            _memoryTrim.Dispose();
        }
    }

    private void OnStateChanged(ComponentSupervisor component, StateRecord previous, StateRecord current) =>
        _inbox.Writer.TryWrite(new StateChangedMessage(component.Id, current));

    public bool RequestRestart(ComponentId id, TaskCompletionSource<string?> done) =>
        _acceptingRequests && _inbox.Writer.TryWrite(new RestartMessage(id, done));

    public bool RequestReload(TaskCompletionSource<ReloadOutcome> done) =>
        _acceptingRequests && _inbox.Writer.TryWrite(new ReloadMessage(done));

    public bool RequestVncControl(VncCommand command, TaskCompletionSource<VncCommandOutcome?> done) =>
        _acceptingRequests && _inbox.Writer.TryWrite(new VncControlMessage(command, done));

    /// <summary>Requests still queued when the loop ends are answered "stopping" instead of never.</summary>
    private void FailPendingRequests()
    {
        while (_inbox.Reader.TryRead(out var message))
        {
            switch (message)
            {
                case ReloadMessage { Done: { } done }:
                    done.TrySetCanceled();
                    break;
                case RestartMessage restart:
                    restart.Done.TrySetCanceled();
                    break;
                case VncControlMessage vnc:
                    vnc.Done.TrySetCanceled();
                    break;
                case StateChangedMessage changed:
                    _transitions.Add((changed.Id, changed.State));
                    break;
                case WatchdogProbe probe:
                    probe.Answer.TrySetResult();
                    break;
            }
        }
    }

    private async Task RunLoopAsync(CancellationToken stoppingToken)
    {
        var reader = _inbox.Reader;
        while (true)
        {
            try
            {
                await reader.WaitToReadAsync(stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            // Drain everything queued, then publish once: a burst of transitions is one status write.
            var publish = false;
            while (reader.TryRead(out var message))
            {
                try
                {
                    switch (message)
                    {
                        case ReloadMessage reload:
                            var outcome = await ReloadAsync().ConfigureAwait(false);
                            reload.Done?.TrySetResult(outcome);
                            publish = false;
                            break;
                        case RestartMessage restart:
                            var fresh = await supervisor.RestartAsync(restart.Id).ConfigureAwait(false);
                            restart.Done.TrySetResult(fresh?.Instance);
                            publish = true;
                            break;
                        case VncControlMessage vnc:
                            AnswerVncCommand(vnc);
                            publish = true; // the override shows in the details at once
                            break;
                        case StateChangedMessage changed:
                            _transitions.Add((changed.Id, changed.State));
                            publish = true;
                            break;
                        case RefreshMessage:
                            publish = true;
                            break;
                        case WatchdogProbe probe:
                            probe.Answer.TrySetResult();
                            break;
                    }
                }
#pragma warning disable CA1031 // The loop must outlive any one failure: the watchdog depends on it.
                catch (Exception e)
#pragma warning restore CA1031
                {
                    DaemonLog.ControlLoopError(logger, message.GetType().Name, e);
                    switch (message)
                    {
                        case ReloadMessage { Done: { } done }:
                            done.TrySetException(e);
                            break;
                        case RestartMessage restart:
                            restart.Done.TrySetException(e);
                            break;
                        case VncControlMessage vnc:
                            vnc.Done.TrySetException(e);
                            break;
                    }
                }
            }
            if (publish)
            {
                Publish();
            }
        }
    }

    /// <summary>
    /// Hands the command to the emergency desktop's component and answers with its outcome; null when there is none
    /// (vnc.mode off). The component is looked up here, in the loop, so a reload that replaces it cannot race the command.
    /// </summary>
    private void AnswerVncCommand(VncControlMessage message)
    {
        var desktop = supervisor.Components.FirstOrDefault(c => c.Id.Kind == Api.BastionApi.VncKind);
        if (desktop is null)
        {
            message.Done.TrySetResult(null);
        }
        else if (desktop.Component is IVncControl control)
        {
            // Answered by the desktop's own loop (its inbox): this loop does not wait for it.
            _ = AnswerAsync(control.ApplyAsync(message.Command), message.Done);
        }
        else
        {
            // Not created (its factory failed) or not a desktop: an answer for the caller, not a control-loop error.
            var state = desktop.State;
            message.Done.TrySetException(new VncUnavailableException(
                $"{desktop.Id} cannot take commands now: it is {state.State} ({state.Reason})"));
        }
    }

    private static async Task AnswerAsync(Task<VncCommandOutcome> outcome, TaskCompletionSource<VncCommandOutcome?> done)
    {
        try
        {
            done.TrySetResult(await outcome.ConfigureAwait(false));
        }
        catch (Exception e)
        {
            done.TrySetException(e);
        }
    }

    private async Task<ReloadOutcome> ReloadAsync()
    {
        DaemonLog.ReloadRequested(logger, _config.SourcePath);
        notifier.Notify($"RELOADING=1\nMONOTONIC_USEC={MonotonicClock.NowMicroseconds()}\n" + SystemdNotifier.StatusLine("reloading configuration"));
        _daemonState = "reloading";
        Publish();
        try
        {
            var result = ConfigLoader.LoadFile(_config.SourcePath);
            if (!result.Ok)
            {
                foreach (var error in result.Errors)
                {
                    DaemonLog.ReloadConfigError(logger, error.ToString());
                }
                DaemonLog.ReloadRefused(logger, result.Errors.Count);
                _refusedReloadErrors = [.. result.Errors.Select(e => e.ToString())];
                _metrics.ReloadRefused();
                return new ReloadOutcome(false, _refusedReloadErrors);
            }
            var config = result.Config!;
            if (config.Paths != _config.Paths)
            {
                // State (keys) and runtime files (status, sockets) do not move under running components:
                // the directories were prepared at start, and a restart is the safe moment to change them.
                DaemonLog.PathsChangeNeedsRestart(logger, _config.Paths.StateDir, _config.Paths.RuntimeDir);
                config = config with { Paths = _config.Paths };
            }
            if (config.Dbus != _config.Dbus)
            {
                // The API stays where clients found it; a restart moves it.
                DbusLog.ConfigNeedsRestart(logger, _bus?.Target.ToString() ?? "no bus (dbus.bus: none)");
                config = config with { Dbus = _config.Dbus };
            }
            logLevel.MinimumLevel = Logging.LogSetup.ToSerilog(config.Logging.Level);
            supervisor.StopTimeout = config.Supervision.StopTimeout;
            var plan = await supervisor.ApplyAsync(ComponentPlan.Build(config, runtime)).ConfigureAwait(false);
            _config = config;
            _refusedReloadErrors = [];
            _metrics.Apply(config.Metrics);
            _metrics.ReloadApplied();
            _memoryTrim.Schedule();
            DaemonLog.ReloadApplied(logger, plan);
            return new ReloadOutcome(true, []);
        }
        finally
        {
            _lastReloadAt = time.GetUtcNow();
            _daemonState = "running";
            var summary = Publish();
            notifier.Notify("READY=1\n" + SystemdNotifier.StatusLine(summary));
        }
    }

    /// <summary>Pings at half the watchdog interval, and only if the control loop answers a probe in time.</summary>
    private Task RunWatchdogAsync(TimeSpan interval, CancellationToken cancellationToken) =>
        new SupervisionWatchdog(
            interval,
            time,
            askLoop: () =>
            {
                var probe = new WatchdogProbe(new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
                _inbox.Writer.TryWrite(probe);
                return probe.Answer;
            },
            ping: () => notifier.Notify("WATCHDOG=1"),
            withheld: period => DaemonLog.WatchdogWithheld(logger, period))
        .RunAsync(cancellationToken);

    private async Task RunStatusRefreshAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(StatusRefreshInterval, time);
        while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
        {
            _inbox.Writer.TryWrite(new RefreshMessage());
        }
    }

    private async Task StopEverythingAsync()
    {
        var timeout = _config.Supervision.StopTimeout;
        notifier.Notify("STOPPING=1\n" + SystemdNotifier.StatusLine("stopping"));
        DaemonLog.Stopping(logger, supervisor.Components.Count, timeout);
        _daemonState = "stopping";
        Publish();
        await supervisor.StopAllAsync("daemon stopping", timeout).ConfigureAwait(false);
        _daemonState = "stopped";
        Publish();
        DaemonLog.Stopped(logger);
    }

    /// <summary>Recomputes the summary, sends STATUS= when it changed, and rewrites status.json.</summary>
    private string Publish()
    {
        // One read of the components feeds both the summary and the list, so they always agree.
        var components = StatusPublisher.Components(supervisor, _status.Last?.Components);
        var summary = StatusSummary.Build(components, _refusedReloadErrors.Count);
        if (summary != _lastSummary && _daemonState is "running")
        {
            notifier.Notify(SystemdNotifier.StatusLine(summary));
        }
        _lastSummary = summary;
        var view = _status.Publish(_config.Paths.RuntimeDir, _daemonState, summary, _config.SourcePath, _lastReloadAt, _refusedReloadErrors, components);
        runtime.Status.Publish(view);
        _bus?.Publish(view, [.. _transitions]);
        _transitions.Clear();
        return summary;
    }
}
