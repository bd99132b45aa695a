using System.Globalization;
using Bastion.Config;
using Bastion.Ssh;
using Bastion.Supervision;
using Microsoft.Extensions.Logging;
using Renci.SshNet.Common;

namespace Bastion.Daemon.Tunnels;

/// <summary>
/// A <c>tunnels:</c> entry. It holds a lease on its server's <see cref="SshSessionSlot"/> for the whole attempt and
/// starts a fresh forward on every session the slot brings up: the slot reconnects (one schedule per server), so all
/// tunnels on a server come back together. While there is no usable session the tunnel is Failed with the session's
/// reason; while a probe goes unanswered it is Degraded. Failures of the forward itself (a busy port, a refusal by the
/// server, an end-to-end check that keeps failing) end the attempt and the supervisor's backoff starts the next one.
/// </summary>
public sealed class TunnelComponent : IComponent, ILivePolicy
{
    private static readonly TimeSpan DetailRefresh = TimeSpan.FromSeconds(1);
    private readonly long[] _published = new long[(int)Detail.Count];
    private SshSessionState? _publishedSessionState;
    private readonly TunnelConfig _tunnel;
    private readonly SshSessionKey _key;
    private readonly SshSessionPool _pool;
    private readonly ILogger _logger;
    private readonly Lock _limitsLock = new();

    /// <summary><c>limits</c>: the policy part of the config, taken live (<see cref="UpdatePolicy"/>).</summary>
    private TunnelLimitsConfig _limits;

    /// <summary>The forward running now (its relay takes new limits live); null between forwards.</summary>
    private TunnelForward? _forward;
    private long _connects;
    private long _lastSessionId;

    /// <summary>A session on which a request got no answer: not used again until a probe after that time is answered.</summary>
    private (long SessionId, long Since)? _unanswered;

    /// <summary>Why the last session ended, shown while the next one connects.</summary>
    private SshFailure? _previousFailure;

    /// <summary>The server granted this forward before (to an earlier session of this component).</summary>
    private bool _forwardedOnThisServer;

    internal TunnelComponent(TunnelConfig tunnel, Endpoint? socks, SshSessionPool pool)
    {
        _tunnel = tunnel;
        _limits = tunnel.Limits;
        _key = SshSessionKey.For(tunnel, socks);
        _pool = pool;
        _logger = pool.LoggerFactory.CreateLogger("Bastion.Tunnels");
    }

    /// <summary>
    /// A reload that changed only <c>limits</c>: the running relay takes them at once (connections accepted from now on
    /// are judged by them; open connections stay), and every later forward starts with them.
    /// </summary>
    public void UpdatePolicy(object policy)
    {
        var limits = (TunnelLimitsConfig)policy;
        lock (_limitsLock)
        {
            _limits = limits;
            _forward?.UpdateLimits(limits);
        }
        TunnelLog.LimitsUpdated(_logger, _tunnel.Name, limits.Connections, limits.PerSource);
    }

    public async Task RunAsync(IComponentContext context, CancellationToken cancellationToken)
    {
        context.SetDetail("session", _key.ToString());
        context.SetDetail("bind", _tunnel.Bind.ToString());
        if (_tunnel.Target is { } target)
        {
            context.SetDetail("target", target.ToString());
        }
        using var lease = _pool.Lease(_key, _tunnel.Probe);
        var status = new StatusReporter(context);
        while (true)
        {
            var session = await WaitForSessionAsync(context, status, lease.Slot, cancellationToken).ConfigureAwait(false);
            if (session.Id != _lastSessionId)
            {
                _lastSessionId = session.Id;
                _connects++;
            }
            context.SetDetail("connects", _connects.ToString(CultureInfo.InvariantCulture));
            context.SetDetail("reconnects", Math.Max(0, _connects - 1).ToString(CultureInfo.InvariantCulture));
            if (session.HostKeyFingerprint is { } fp)
            {
                context.SetDetail("hostKey", fp);
            }
            await RunOnSessionAsync(context, status, session, cancellationToken).ConfigureAwait(false);
            if (session.Failure is { } ended)
            {
                _previousFailure = ended;
                context.SetDetail("lastFailure", ended.Kind.ToString());
                status.Failed($"{ended.Reason}; reconnecting");
            }
        }
    }

    /// <summary>Waits for a session that is up (and answered since a request on it went unanswered); reports why not meanwhile.</summary>
    private async Task<SharedSshSession> WaitForSessionAsync(IComponentContext context, StatusReporter status, SshSessionSlot slot, CancellationToken cancellationToken)
    {
        while (true)
        {
            var (session, slotChanged) = slot.Current;
            var sessionChanged = session.Changed;
            switch (session.State)
            {
                case SshSessionState.Up or SshSessionState.Suspect:
                    if (_unanswered is not { } u || u.SessionId != session.Id || session.LastAnswerTimestamp > u.Since)
                    {
                        _unanswered = null;
                        _previousFailure = null;
                        return session;
                    }
                    break;
                case SshSessionState.Connecting when _previousFailure is { } previous:
                    // Reconnecting after the last session ended: say why until the new one is up.
                    status.Failed($"{previous.Reason}; reconnecting");
                    break;
                case SshSessionState.Dead or SshSessionState.Closed:
                    var failure = session.Failure ?? new SshFailure(SshFailureKind.ConnectionLost, $"connection to {_key.Host}:{_key.Port} lost");
                    _previousFailure = failure;
                    context.SetDetail("lastFailure", failure.Kind.ToString());
                    status.Failed(failure.HoldOff is not null || slot.RetryIn is not { } retry
                        ? failure.Reason
                        : retry > TimeSpan.FromSeconds(1)
                            ? $"{failure.Reason}; reconnecting in {Durations.Format(TimeSpan.FromSeconds(Math.Round(retry.TotalSeconds)))}"
                            : $"{failure.Reason}; reconnecting");
                    break;
            }
            await Task.WhenAny(sessionChanged, slotChanged, Task.Delay(DetailRefresh, context.Time, cancellationToken)).ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested();
        }
    }

    /// <summary>Starts the forward on <paramref name="session"/> and watches it; returns when the session is no longer usable.</summary>
    private async Task RunOnSessionAsync(IComponentContext context, StatusReporter status, SharedSshSession session, CancellationToken cancellationToken)
    {
        if (session.Requests is not { } requests || session.Channels is not { } channels)
        {
            return; // ended meanwhile: the wait reports why
        }
        TunnelForward forward;
        try
        {
            TunnelConfig tunnel;
            lock (_limitsLock)
            {
                tunnel = _tunnel with { Limits = _limits };
            }
            forward = await TunnelForward.StartAsync(tunnel, channels, requests, context.Time, e => TunnelLog.RelayError(_logger, _tunnel.Name, e)).ConfigureAwait(false);
        }
        catch (Exception) when (session.IsEnded)
        {
            return; // the session went away while the forward was being set up: its reason is the one to show
        }
        catch (SshFailureException e)
        {
            var failure = e.Failure;
            if (failure.Kind == SshFailureKind.ForwardRejected && _forwardedOnThisServer)
            {
                // The same server granted this very forward to an earlier session: policy did not change, the port is
                // most likely still held by that session's forward (the server has not noticed it is gone yet).
                failure = new SshFailure(SshFailureKind.RemotePortBusy, SshFailure.RemotePortBusyReason(_tunnel.Bind.ToString()));
            }
            TunnelLog.ForwardFailed(_logger, _tunnel.Name, failure.Reason);
            await FailAsync(context, failure, cancellationToken).ConfigureAwait(false);
            throw;
        }
        catch (SshOperationTimeoutException)
        {
            // The server did not answer the forward request: it may be hung. Do not show Running on it: ask for a probe
            // and use this session again only once it answered (or take the next session).
            MarkUnanswered(session, context);
            status.Degraded($"the server did not answer the request for the forward within {Durations.Format(SshConnectionSettings.ConnectTimeout)}; probing it");
            return;
        }
        catch (Exception e) when (e is SshException or InvalidOperationException or ObjectDisposedException or System.Net.Sockets.SocketException)
        {
            var failure = new SshFailure(SshFailureKind.Other, $"cannot start the forward on {_key}: {e.GetType().Name}");
            await FailAsync(context, failure, cancellationToken).ConfigureAwait(false);
            throw;
        }
        try
        {
            lock (_limitsLock)
            {
                _forward = forward;
                // A reload may have come while the forward started: it takes the limits in force now.
                forward.UpdateLimits(_limits);
            }
            _forwardedOnThisServer = true;
            context.SetDetail("boundPort", forward.BoundPort.ToString(CultureInfo.InvariantCulture));
            var what = Describe(forward.BoundPort);
            TunnelLog.Forwarding(_logger, _tunnel.Name, what);
            await WatchAsync(context, status, session, forward, what, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            lock (_limitsLock)
            {
                _forward = null;
            }
            // Its listener and connections, then (-R) the server's listener: bounded, and quick on a dead session (its
            // requests fail at once), so the next forward (which may bind the same port) follows it.
            await forward.DisposeAsync().ConfigureAwait(false);
        }
    }

    private void MarkUnanswered(SharedSshSession session, IComponentContext context)
    {
        _unanswered = (session.Id, context.Time.GetTimestamp());
        session.RequestProbe();
    }

    private async Task WatchAsync(IComponentContext context, StatusReporter status, SharedSshSession session, TunnelForward forward, string running,
        CancellationToken cancellationToken)
    {
        var nextEndToEnd = context.Time.GetTimestamp();
        var e2eFailures = 0;
        EndToEndResult? e2eProblem = null;
        var seenOpenTimeouts = forward.OpenTimeouts;
        var channelTimeout = false;
        ForgetPublished(); // a new forward: its counters are all published once
        while (true)
        {
            Publish(context, session, forward);
            var state = session.State;
            if (state is SshSessionState.Dead or SshSessionState.Closed)
            {
                return;
            }
            if (forward.OpenTimeouts is var timeouts && timeouts != seenOpenTimeouts)
            {
                // A channel open through the forward timed out: the server may be hung. The probe decides; until a
                // probe answers, the tunnel is not shown Running.
                seenOpenTimeouts = timeouts;
                MarkUnanswered(session, context);
                channelTimeout = true;
            }
            if (channelTimeout && _unanswered is { } u && session.LastAnswerTimestamp > u.Since)
            {
                channelTimeout = false;
                _unanswered = null;
            }
            if (_tunnel.Kind == TunnelKind.Remote && context.Time.GetTimestamp() >= nextEndToEnd && state == SshSessionState.Up && !channelTimeout)
            {
                EndToEndResult result;
                try
                {
                    result = await forward.CheckEndToEndAsync(_tunnel.Bind, _tunnel.Target!, _tunnel.Probe.Timeout, cancellationToken).ConfigureAwait(false);
                }
                catch (Exception) when (session.IsEnded)
                {
                    return; // the session went away under the check: its reason is the one to show
                }
                catch (Exception e) when (e is SshException or InvalidOperationException or ObjectDisposedException)
                {
                    result = new(EndToEndOutcome.LocalError, $"cannot open the check's channel through {_key} ({e.GetType().Name})");
                }
                nextEndToEnd = context.Time.GetTimestamp() + (long)(_tunnel.Probe.Interval.TotalSeconds * context.Time.TimestampFrequency);
                if (session.IsEnded)
                {
                    return; // the session's reason is the better one
                }
                if (result.Outcome == EndToEndOutcome.Ok)
                {
                    e2eFailures = 0;
                    e2eProblem = null;
                    context.SetDetail("endToEnd", "ok");
                }
                else
                {
                    e2eFailures++;
                    e2eProblem = result;
                    context.SetDetail("endToEnd", result.Detail);
                    TunnelLog.EndToEndFailed(_logger, _tunnel.Name, e2eFailures, _tunnel.Probe.Failures, result.Detail);
                    if (result.Outcome != EndToEndOutcome.TargetRefused && e2eFailures >= _tunnel.Probe.Failures)
                    {
                        throw new ComponentFailureException($"end-to-end check failed {e2eFailures} times in a row: {result.Detail}");
                    }
                }
            }
            if (channelTimeout)
            {
                status.Degraded($"a connection through the tunnel got no answer from the server within {Durations.Format(SshConnectionSettings.ConnectTimeout)}; probing it");
            }
            else if (state == SshSessionState.Suspect)
            {
                status.Degraded($"the server did not answer {session.ConsecutiveFailures} liveness probe(s) in a row " +
                    $"(declared dead after {_tunnel.Probe.Failures}); forwarding {running}");
            }
            else if (e2eProblem is { } problem)
            {
                // The target refusing is the local service's problem (restarting would not help); other failures below the
                // limit are shown until the check passes again.
                status.Degraded(problem.Detail);
            }
            else
            {
                status.Running(running);
            }
            await Task.WhenAny(session.Changed, Task.Delay(DetailRefresh, context.Time, cancellationToken)).ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested();
        }
    }

    /// <summary>
    /// The counters as details, each formatted only when it changed: this runs every second for every tunnel, and an
    /// idle tunnel should cost no allocation (200 idle tunnels made about 100 KB of strings a second, which the GC
    /// promoted and kept: RSS grew by megabytes a minute).
    /// </summary>
    private void Publish(IComponentContext context, SharedSshSession session, TunnelForward forward)
    {
        var relay = forward.Relay;
        Set(context, Detail.BytesOut, "bytesOut", relay.BytesOut);
        Set(context, Detail.BytesIn, "bytesIn", relay.BytesIn);
        Set(context, Detail.ActiveConnections, "activeConnections", relay.Active);
        Set(context, Detail.Connections, "connections", Math.Max(0, relay.Total - forward.EndToEndChecks));
        Set(context, Detail.RefusedTunnelLimit, "refusedTunnelLimit", relay.Refused(RelayRefusal.TunnelLimit));
        Set(context, Detail.RefusedSourceLimit, "refusedSourceLimit", relay.Refused(RelayRefusal.SourceLimit));
        var state = session.State;
        if (state != _publishedSessionState)
        {
            _publishedSessionState = state;
            context.SetDetail("sessionState", state.ToString());
        }
        if (session.LastProbeMs >= 0)
        {
            Set(context, Detail.LastProbeMs, "lastProbeMs", session.LastProbeMs);
        }
        Set(context, Detail.ProbesAnswered, "probesAnswered", session.ProbesAnswered);
    }

    private void ForgetPublished()
    {
        Array.Fill(_published, long.MinValue);
        _publishedSessionState = null;
    }

    private void Set(IComponentContext context, Detail detail, string key, long value)
    {
        if (_published[(int)detail] != value)
        {
            _published[(int)detail] = value;
            context.SetDetail(key, value.ToString(CultureInfo.InvariantCulture));
        }
    }

    private enum Detail
    {
        BytesOut,
        BytesIn,
        ActiveConnections,
        Connections,
        RefusedTunnelLimit,
        RefusedSourceLimit,
        LastProbeMs,
        ProbesAnswered,
        Count,
    }

    private string Describe(int boundPort) => _tunnel.Kind switch
    {
        TunnelKind.Local => $"forwarding {new Endpoint(_tunnel.Bind.Host, boundPort)} → {_tunnel.Target} via {_key}",
        TunnelKind.Remote => $"server {_key.Host} listens on {_tunnel.Bind} → {_tunnel.Target} here",
        _ => $"SOCKS5 proxy on {new Endpoint(_tunnel.Bind.Host, boundPort)} via {_key}",
    };

    /// <summary>Reports the failure; for failures a retry cannot fix, waits the hold-off in Failed first. Always throws.</summary>
    private static async Task FailAsync(IComponentContext context, SshFailure failure, CancellationToken cancellationToken)
    {
        context.SetDetail("lastFailure", failure.Kind.ToString());
        if (failure.HoldOff is { } holdOff)
        {
            context.ReportFailed(failure.Reason);
            await Task.Delay(holdOff, context.Time, cancellationToken).ConfigureAwait(false);
        }
        throw new ComponentFailureException(failure.Reason);
    }

    /// <summary>Reports a state only when it or its reason changed (the watch loop re-evaluates every second).</summary>
    private sealed class StatusReporter(IComponentContext context)
    {
        private (ComponentState, string)? _last;

        public void Running(string reason) => Report(ComponentState.Running, reason);
        public void Degraded(string reason) => Report(ComponentState.Degraded, reason);
        public void Failed(string reason) => Report(ComponentState.Failed, reason);

        private void Report(ComponentState state, string reason)
        {
            if (_last == (state, reason))
            {
                return;
            }
            _last = (state, reason);
            switch (state)
            {
                case ComponentState.Running:
                    context.ReportRunning(reason);
                    break;
                case ComponentState.Degraded:
                    context.ReportDegraded(reason);
                    break;
                default:
                    context.ReportFailed(reason);
                    break;
            }
        }
    }
}
