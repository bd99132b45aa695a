using System.Net.Sockets;
using Bastion.Config;
using Bastion.Daemon.Tls;
using Bastion.Daemon.Vnc;
using Bastion.Vnc;

namespace Bastion.Daemon.Tests.Tls;

/// <summary>
/// Components hand each other typed reasons; the words are made at the edge. The VNC endpoint's Standby line is made from
/// the gate's <see cref="GateClosed"/> (not by cutting "lowered: " off the desktop's reason), and a backend's missing socket
/// file is told by its error code, not by its message.
/// </summary>
public sealed class TypedReasonTests
{
    private static readonly DateTimeOffset Since = new(2026, 12, 6, 12, 0, 1, TimeSpan.Zero);

    [Fact]
    public void A_desktop_lowered_by_the_policy_gives_the_endpoint_the_policy_s_explanation_without_its_prefix()
    {
        var decision = new VncDecision(false, VncCause.CheckHealthy, null) { Check = "check/sshd", At = Since, Failures = 3 };

        Assert.Equal(
            "lowered: not listening while the emergency desktop is down: check/sshd healthy since 2026-12-06T12:00:01Z; raising after 3 failed probes in a row",
            TlsEndpoint.StandbyReason(TlsMode.Listen, GateClosed.Lowered(decision)));
        Assert.Equal("lowered: " + decision.Explain(), decision.Reason);
    }

    [Fact]
    public void An_admin_s_stop_reads_the_same_whatever_the_words_of_the_decision_begin_with()
    {
        var decision = new VncDecision(false, VncCause.StoppedByAdmin, null) { At = Since };

        Assert.Equal(
            "lowered: not phoning home while the emergency desktop is down: stopped by an admin at 2026-12-06T12:00:01Z (until bastionctl vnc auto)",
            TlsEndpoint.StandbyReason(TlsMode.Dial, GateClosed.Lowered(decision)));
    }

    [Theory]
    [InlineData(GateClosure.NotStarted, "the emergency desktop is not running")]
    [InlineData(GateClosure.DesktopStopped, "vnc/desktop is not running")]
    public void Every_other_closure_has_its_own_words(GateClosure kind, string words)
    {
        Assert.Equal(
            "lowered: not listening while the emergency desktop is down: " + words,
            TlsEndpoint.StandbyReason(TlsMode.Listen, new GateClosed(kind)));
    }

    [Fact]
    public void An_exited_Xvnc_is_named_with_how_it_ended()
    {
        Assert.Equal(
            "lowered: not listening while the emergency desktop is down: Xvnc exited with signal 9; restarting it",
            TlsEndpoint.StandbyReason(TlsMode.Listen, GateClosed.XvncRestarting("exited with signal 9")));
    }

    [Fact]
    public void A_gate_closed_again_for_the_same_decision_does_not_wake_the_endpoint()
    {
        var gate = new VncGates().For("vnc");
        var decision = new VncDecision(false, VncCause.ModeOff, null);
        gate.Close(GateClosed.Lowered(decision));
        var changed = gate.Changed;

        gate.Close(GateClosed.Lowered(new VncDecision(false, VncCause.ModeOff, null)));

        Assert.False(changed.IsCompleted);
        gate.Close(GateClosed.DesktopStopped);
        Assert.True(changed.IsCompleted);
    }

    [Fact]
    public async Task A_missing_backend_socket_file_is_told_by_its_errno()
    {
        var path = Path.Combine(Path.GetTempPath(), "bastion-no-such-" + Guid.NewGuid().ToString("N") + ".sock");
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));

        var backend = new BackendAddress(null, path);

        var e = await Assert.ThrowsAnyAsync<SocketException>(() => BackendConnector.ConnectAsync(backend, timeout.Token));

        Assert.Equal("socket file does not exist", BackendConnector.Describe(e, backend));
    }

    [Fact]
    public async Task A_refused_tcp_backend_is_connection_refused()
    {
        using var listener = new TcpListenerScope();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));

        var backend = new BackendAddress(new Endpoint("127.0.0.1", listener.ClosedPort), null);

        var e = await Assert.ThrowsAnyAsync<SocketException>(() => BackendConnector.ConnectAsync(backend, timeout.Token));

        Assert.Equal("connection refused", BackendConnector.Describe(e, backend));
    }

    /// <summary>A loopback port that was bound and then released: nothing listens on it.</summary>
    private sealed class TcpListenerScope : IDisposable
    {
        public TcpListenerScope()
        {
            var l = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
            l.Start();
            ClosedPort = ((System.Net.IPEndPoint)l.LocalEndpoint).Port;
            l.Stop();
        }

        public int ClosedPort { get; }

        public void Dispose()
        {
            // nothing held: the port was released in the constructor
        }
    }
}
