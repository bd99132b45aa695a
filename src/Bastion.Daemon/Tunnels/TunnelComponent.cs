using System.Globalization;
using Bastion.Config;
using Bastion.Ssh;
using Bastion.Supervision;
using Microsoft.Extensions.Logging;

namespace Bastion.Daemon.Tunnels;

/// <summary>
/// A <c>tunnels:</c> entry. One attempt = lease the shared SSH session for its server (connecting it if nobody has),
/// start a fresh forward on it, then watch: the session dying (reset, failed probes), SSH.NET faulting the forward,
/// and for remote forwards an end-to-end check through the server's bound port. Any of these ends the attempt with
/// a reason and the supervisor's backoff starts the next one. Failures that only a human can fix (wrong host key,
/// key not accepted) hold the attempt in Failed for minutes first, so a broken tunnel never storms the server.
/// </summary>
public sealed class TunnelComponent : IComponent
{
    private static readonly TimeSpan DetailRefresh = TimeSpan.FromSeconds(1);
    private readonly TunnelConfig _tunnel;
    private readonly SshSessionKey _key;
    private readonly SshSessionPool _pool;
    private readonly ILogger _logger;
    private long _connects;
    private long _lastSessionId;

    internal TunnelComponent(TunnelConfig tunnel, Endpoint? socks, SshSessionPool pool)
    {
        _tunnel = tunnel;
        _key = SshSessionKey.For(tunnel, socks);
        _pool = pool;
        _logger = pool.LoggerFactory.CreateLogger("Bastion.Tunnels");
    }

    public async Task RunAsync(IComponentContext context, CancellationToken cancellationToken)
    {
        context.SetDetail("session", _key.ToString());
        context.SetDetail("bind", _tunnel.Bind.ToString());
        if (_tunnel.Target is { } target)
        {
            context.SetDetail("target", target.ToString());
        }
        SshSessionLease lease;
        try
        {
            lease = await _pool.AcquireAsync(_key, _tunnel.Probe, cancellationToken).ConfigureAwait(false);
        }
        catch (SshFailureException e)
        {
            await FailAsync(context, e.Failure, cancellationToken).ConfigureAwait(false);
            throw; // unreachable: FailAsync throws
        }
        using (lease)
        {
            var session = lease.Session;
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
            if (session.IsDead)
            {
                await FailAsync(context, await session.Died.ConfigureAwait(false), cancellationToken).ConfigureAwait(false);
            }
            TunnelForward forward;
            try
            {
                forward = await TunnelForward.StartAsync(_tunnel, session.Client, e => TunnelLog.RelayError(_logger, _tunnel.Name, e)).ConfigureAwait(false);
            }
            catch (SshFailureException e)
            {
                TunnelLog.ForwardFailed(_logger, _tunnel.Name, e.Failure.Reason);
                await FailAsync(context, e.Failure, cancellationToken).ConfigureAwait(false);
                throw;
            }
            catch (Exception e) when (e is Renci.SshNet.Common.SshException or InvalidOperationException or ObjectDisposedException or System.Net.Sockets.SocketException)
            {
                // The session went away while the forward was being set up.
                var failure = session.IsDead ? await session.Died.ConfigureAwait(false) : new SshFailure(SshFailureKind.Other, "cannot start the forward: " + e.Message);
                await FailAsync(context, failure, cancellationToken).ConfigureAwait(false);
                throw;
            }
            await using (forward.ConfigureAwait(false))
            {
                context.SetDetail("boundPort", forward.BoundPort.ToString(CultureInfo.InvariantCulture));
                var what = Describe(forward.BoundPort);
                TunnelLog.Forwarding(_logger, _tunnel.Name, what);
                context.ReportRunning(what);
                await WatchAsync(context, session, forward, what, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private async Task WatchAsync(IComponentContext context, SharedSshSession session, TunnelForward forward, string running, CancellationToken cancellationToken)
    {
        var nextEndToEnd = context.Time.GetTimestamp();
        var e2eFailures = 0;
        while (true)
        {
            Publish(context, session, forward);
            if (session.Died.IsCompleted)
            {
                throw new ComponentFailureException((await session.Died.ConfigureAwait(false)).Reason);
            }
            if (forward.Fault is { } fault)
            {
                throw new ComponentFailureException("the forward failed: " + fault.Message);
            }
            if (_tunnel.Kind == TunnelKind.Remote && context.Time.GetTimestamp() >= nextEndToEnd)
            {
                var problem = await forward.CheckEndToEndAsync(_tunnel.Bind, _tunnel.Target!, _tunnel.Probe.Timeout, cancellationToken).ConfigureAwait(false);
                nextEndToEnd = context.Time.GetTimestamp() + (long)(_tunnel.Probe.Interval.TotalSeconds * context.Time.TimestampFrequency);
                if (problem is null)
                {
                    if (e2eFailures > 0)
                    {
                        context.ReportRunning(running);
                    }
                    e2eFailures = 0;
                    context.SetDetail("endToEnd", "ok");
                }
                else if (session.Died.IsCompleted)
                {
                    continue; // the session's reason is the better one
                }
                else
                {
                    e2eFailures++;
                    context.SetDetail("endToEnd", problem);
                    TunnelLog.EndToEndFailed(_logger, _tunnel.Name, e2eFailures, _tunnel.Probe.Failures, problem);
                    if (problem.StartsWith("the forward works", StringComparison.Ordinal))
                    {
                        context.ReportDegraded(problem); // the tunnel is fine; restarting it would not help
                    }
                    else if (e2eFailures >= _tunnel.Probe.Failures)
                    {
                        throw new ComponentFailureException($"end-to-end check failed {e2eFailures} times in a row: {problem}");
                    }
                }
            }
            await Task.WhenAny(session.Died, Task.Delay(DetailRefresh, context.Time, cancellationToken)).ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested();
        }
    }

    private static void Publish(IComponentContext context, SharedSshSession session, TunnelForward forward)
    {
        var relay = forward.Relay;
        context.SetDetail("bytesOut", relay.BytesOut.ToString(CultureInfo.InvariantCulture));
        context.SetDetail("bytesIn", relay.BytesIn.ToString(CultureInfo.InvariantCulture));
        context.SetDetail("activeConnections", relay.Active.ToString(CultureInfo.InvariantCulture));
        context.SetDetail("connections", Math.Max(0, relay.Total - forward.EndToEndChecks).ToString(CultureInfo.InvariantCulture));
        context.SetDetail("refusedTunnelLimit", relay.Refused(RelayRefusal.TunnelLimit).ToString(CultureInfo.InvariantCulture));
        context.SetDetail("refusedSourceLimit", relay.Refused(RelayRefusal.SourceLimit).ToString(CultureInfo.InvariantCulture));
        if (session.LastProbeMs >= 0)
        {
            context.SetDetail("lastProbeMs", session.LastProbeMs.ToString(CultureInfo.InvariantCulture));
        }
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
}
