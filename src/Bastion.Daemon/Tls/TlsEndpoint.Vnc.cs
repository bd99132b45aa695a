// CA1873: these log calls run once per connection or state change, never in the relay loop; the cost is irrelevant.
#pragma warning disable CA1873

using System.Globalization;
using System.Net;
using Bastion.Daemon.Vnc;
using Bastion.Supervision;
using Bastion.Tls;
using Bastion.Vnc;
using Microsoft.Extensions.Logging;

namespace Bastion.Daemon.Tls;

// The endpoint that fronts the emergency desktop (definition.FrontsVnc): it serves only while the desktop's gate is open,
// and watches each relayed RFB handshake for the VNC password's verdict.
public sealed partial class TlsEndpoint
{
    private long _vncAuthFailures;

    private ILogger Logger => logger;
    private volatile bool _standby;
    private string? _serving;

    /// <summary>The words of the Standby state for a closed gate: "lowered: not listening while the emergency desktop is down: WHY".</summary>
    internal static string StandbyReason(Config.TlsMode mode, GateClosed closed)
    {
        var why = closed.Kind switch
        {
            GateClosure.Lowered when closed.Decision is { } decision => decision.Explain(),
            GateClosure.XvncRestarting => $"Xvnc {closed.XvncExit}; restarting it",
            GateClosure.DesktopStopped => "vnc/desktop is not running",
            _ => "the emergency desktop is not running",
        };
        return $"lowered: not {(mode == Config.TlsMode.Listen ? "listening" : "phoning home")} while the emergency desktop is down: {why}";
    }

    /// <summary>
    /// Standby (no listener, no dialling) while the gate is closed; while it is open, listens or dials like any endpoint.
    /// Closing the gate stops the listener and cuts relayed connections (the desktop closes it only when no client is
    /// connected, unless an admin forced it).
    /// </summary>
    private async Task ServeGatedAsync(IComponentContext context, PeerValidator validator, CancellationToken cancellationToken)
    {
        var gate = vncGates.For(Name);
        context.SetDetail("vncAuthFailures", "0");
        while (true)
        {
            var changed = gate.Changed;
            if (!gate.IsOpen)
            {
                _standby = true;
                _boundAddress = null;
                context.SetDetail("address", "-");
                context.SetDetail("boundPort", "-");
                context.ReportStandby(StandbyReason(_config.Mode, gate.ClosedReason));
                await changed.WaitAsync(cancellationToken).ConfigureAwait(false);
                continue;
            }
            _standby = false;
            using var open = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            var serve = _config.Mode == Config.TlsMode.Listen
                ? ListenAsync(context, validator, open.Token)
                : DialAsync(context, validator, open.Token);
            if (_config.Mode == Config.TlsMode.Dial)
            {
                Announce(gate, $"phoning home to {_config.Address}");
            }
            try
            {
                while (true)
                {
                    // Changed before IsOpen: a Close() between the two would otherwise be missed (Changed would already be
                    // the next one), and the endpoint would keep listening while the desktop is lowered.
                    var next = gate.Changed;
                    if (serve.IsCompleted || !gate.IsOpen)
                    {
                        break;
                    }
                    await Task.WhenAny(serve, next).WaitAsync(cancellationToken).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                // stopping: the listener (and its connections) are ended below, before the attempt returns
            }
            _standby = true; // before the listener goes: no "Running" from a connection that ends meanwhile
            await open.CancelAsync().ConfigureAwait(false);
            try
            {
                await serve.ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (open.IsCancellationRequested)
            {
            }
            finally
            {
                gate.ClearServing(_serving); // also when the listener failed (the supervisor restarts it with backoff)
            }
            cancellationToken.ThrowIfCancellationRequested();
        }
    }

    /// <summary>Called once the listener is bound (listen mode), so the desktop can say where it is reachable.</summary>
    private void AnnounceBound(string address)
    {
        if (definition.FrontsVnc)
        {
            Announce(vncGates.For(Name), $"listening on {address}");
        }
    }

    private void Announce(VncGate gate, string serving)
    {
        _serving = serving;
        gate.SetServing(serving);
    }

    /// <summary>The observer for one relayed connection to the desktop; null for other endpoints.</summary>
    private VncAuthWatch? WatchVnc(IComponentContext context, string address, string subject, string serial) =>
        definition.FrontsVnc ? new VncAuthWatch(this, context, _limiter!, address, subject, serial) : null;

    /// <summary>
    /// Passes the relayed bytes to an <see cref="RfbAuthObserver"/> and acts once on its verdict: a session opened is logged;
    /// a wrong VNC password is logged with the certificate that sent it, counted, and recorded against that certificate's
    /// serial in the endpoint's limiter (past the limit the certificate is refused until its failures age out; another
    /// certificate from the same address is not affected); a handshake it cannot follow is logged and recorded likewise.
    /// </summary>
    private sealed class VncAuthWatch(TlsEndpoint endpoint, IComponentContext context, HandshakeLimiter limiter,
        string address, string subject, string serial) : IRelayObserver
    {
        private readonly RfbAuthObserver _observer = new();
        private int _reported;

        public bool Watching => _observer.Watching;

        public void FromTls(ReadOnlySpan<byte> data)
        {
            _observer.FromTls(data);
            Check();
        }

        public void FromPlain(ReadOnlySpan<byte> data)
        {
            _observer.FromPlain(data);
            Check();
        }

        private void Check()
        {
            var outcome = _observer.Outcome;
            if (outcome == RfbAuthOutcome.Pending || Interlocked.Exchange(ref _reported, 1) == 1)
            {
                return;
            }
            var logger = endpoint.Logger;
            if (outcome == RfbAuthOutcome.Succeeded)
            {
                VncLog.AuthSucceeded(logger, endpoint.Name, subject, serial, address);
            }
            else if (outcome == RfbAuthOutcome.Failed)
            {
                var reason = _observer.FailureReason ?? "authentication failed";
                VncLog.AuthFailed(logger, endpoint.Name, subject, serial, address, reason);
                var failures = Interlocked.Increment(ref endpoint._vncAuthFailures);
                context.SetDetail("vncAuthFailures", failures.ToString(CultureInfo.InvariantCulture));
                context.SetDetail("lastVncAuthFailure", $"{subject} serial {serial} from {address}: {reason}");
                RecordFailure(logger);
            }
            else if (outcome == RfbAuthOutcome.Unknown)
            {
                // Not RFB, a security type Xvnc did not offer, or an exchange the observer cannot follow: Xvnc may still have
                // checked a password in it, so it counts against the certificate like a wrong one (fail closed). Real viewers
                // never get here.
                VncLog.HandshakeNotFollowed(logger, endpoint.Name, subject, serial, address);
                RecordFailure(logger);
            }
        }

        private void RecordFailure(ILogger logger)
        {
            if (limiter.RecordPasswordFailure(serial))
            {
                TlsLog.CertificateBlocked(logger, endpoint.Name, subject, serial, limiter.MaxFailuresPerMinute);
            }
        }
    }
}
