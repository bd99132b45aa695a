using Bastion.Config;
using Bastion.Daemon.Checks;
using Bastion.Daemon.Vnc;
using Bastion.Supervision;
using Bastion.Vnc;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace Bastion.Daemon.Tests.Vnc;

/// <summary>
/// <c>vnc/desktop</c>'s one loop on a fake clock, with a scripted desktop: a fake check's results raise and lower it, admins'
/// commands are answered through its inbox, a reload's policy is taken live, and Xvnc and the session are restarted by
/// one schedule type (backoff without jitter here: each delay is its ceiling).
/// </summary>
public sealed class VncComponentLoopTests : IDisposable
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(20);
    private readonly string _dir = Directory.CreateTempSubdirectory("bastion-vncloop-").FullName;
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 12, 6, 12, 0, 0, TimeSpan.Zero));
    private readonly CheckResults _checks = new();
    private readonly VncGates _gates = new();
    private readonly CancellationTokenSource _stop = new();
    private Task? _running;

    public void Dispose()
    {
        _stop.Cancel();
        try
        {
            _running?.Wait(Limit);
        }
        catch (AggregateException)
        {
            // cancelled: the attempt ends by throwing
        }
        _stop.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    private BastionConfig Config(string vnc, string backoff = "initial: 1s\n    max: 8s\n    resetAfter: 30s")
    {
        var yaml = $"""
            paths:
              stateDir: {_dir}/state
              runtimeDir: {_dir}/run
            supervision:
              backoff:
                {backoff}
            checks:
              - name: sshd
                endpoint: 127.0.0.1:22
            tls:
              - name: vnc
                mode: listen
                address: 127.0.0.1:5901
                certificate: /etc/bastion/tls/vnc.crt
                key: /etc/bastion/tls/vnc.key
                ca: /etc/bastion/tls/ca.crt
            vnc:
              endpoint: vnc
            {vnc}
            """;
        var result = ConfigLoader.LoadText(yaml, "/etc/bastion/bastion.yaml", new ConfigLoadOptions { CheckFiles = false });
        Assert.True(result.Ok, string.Join("\n", result.Errors));
        return result.Config!;
    }

    private static string Fallback(int failures, string grace) =>
        $"  mode: fallback\n  fallback:\n    check: sshd\n    failures: {failures}\n    grace: {grace}";

    private (VncComponent Component, ScriptedDesktop Desktop, RecordingContext Context, VncGate Gate) Start(BastionConfig config)
    {
        var desktop = new ScriptedDesktop(_time);
        var component = new VncComponent(config, _checks, _gates, NullLogger.Instance, () => desktop,
            new BackoffPolicy(config.Supervision.Backoff, () => 1.0));
        var context = new RecordingContext(_time);
        var gate = _gates.For("vnc");
        gate.SetServing("listening on 127.0.0.1:5901"); // the endpoint's part: it would say so once the gate opens
        _running = Task.Run(() => component.RunAsync(context, _stop.Token));
        return (component, desktop, context, gate);
    }

    private void Probe(bool ok, int failures = 0) =>
        _checks.Publish(new CheckResult("sshd", ok, ok ? "answered SSH-2.0-OpenSSH_9.6" : "connection refused by 127.0.0.1:22", _time.GetUtcNow(), failures));

    private async Task UntilAsync(Func<bool> condition, string what, RecordingContext context)
    {
        var deadline = DateTime.UtcNow + Limit;
        while (!condition())
        {
            if (_running is { IsFaulted: true } failed)
            {
                throw new InvalidOperationException("the component's attempt failed", failed.Exception);
            }
            Assert.True(DateTime.UtcNow < deadline, $"timed out waiting for {what}; state {context.Current}");
            await Task.Delay(10);
        }
    }

    /// <summary>Lets the loop take whatever is pending (real time: it runs on the thread pool) without moving the fake clock.</summary>
    private static Task Settle() => Task.Delay(200);

    [Fact]
    public async Task A_fake_check_s_failures_raise_the_desktop_and_its_recovery_lowers_it_after_the_grace_once_the_client_left()
    {
        var (_, desktop, context, gate) = Start(Config(Fallback(failures: 2, grace: "1m")));
        Probe(ok: true);
        await UntilAsync(() => context.Current.State == ComponentState.Standby && context.Current.Reason.Contains("healthy since", StringComparison.Ordinal),
            "Standby while sshd answers", context);
        Assert.Empty(desktop.XvncStarts);

        Probe(ok: false, failures: 1);
        await Settle();
        Assert.Empty(desktop.XvncStarts); // one failure of two: still lowered
        Assert.Contains("failed the last probe (connection refused by 127.0.0.1:22); raising after 2 in a row", context.Current.Reason, StringComparison.Ordinal);

        Probe(ok: false, failures: 2);
        await UntilAsync(() => gate.IsOpen && desktop.SessionStarts.Count == 1, "raised: Xvnc, gate open, session", context);
        Assert.Single(desktop.XvncStarts);
        Assert.StartsWith("raised: check/sshd failed 2 probes in a row since 2026-12-06T12:00:00Z", context.Current.Reason, StringComparison.Ordinal);
        Assert.Equal("raised", context.Detail("desired"));

        // sshd is back; an admin is connected when the grace runs out: the desktop stays up for him.
        Probe(ok: true);
        gate.ClientConnected();
        await UntilAsync(() => context.Current.Reason.Contains("lowering at 2026-12-06T12:01:00Z", StringComparison.Ordinal), "the lowering time", context);
        _time.Advance(TimeSpan.FromSeconds(61));
        await UntilAsync(() => context.Current.Reason.Contains("lowering once 1 client has disconnected", StringComparison.Ordinal), "held by the client", context);
        Assert.True(gate.IsOpen);
        Assert.Equal(0, desktop.Stops);

        gate.ClientDisconnected();
        await UntilAsync(() => context.Current.State == ComponentState.Standby, "lowered once the client left", context);
        Assert.False(gate.IsOpen);
        Assert.Equal(1, desktop.Stops);
        Assert.Null(desktop.Xvnc);
        Assert.Equal(GateClosure.Lowered, gate.ClosedReason.Kind);
        Assert.Equal(VncCause.CheckHealthy, gate.ClosedReason.Decision!.Cause);
    }

    [Fact]
    public async Task Admins_commands_are_answered_by_the_loop_and_a_stop_waits_for_a_connected_client_unless_forced()
    {
        var (component, desktop, context, gate) = Start(Config(Fallback(failures: 3, grace: "1m")));
        Probe(ok: true);
        await UntilAsync(() => context.Current.State == ComponentState.Standby, "Standby", context);

        var started = await component.ApplyAsync(new VncCommand(VncCommandAction.Start, TimeSpan.FromMinutes(30), Force: false)).WaitAsync(Limit);
        Assert.True(started.Applied);
        Assert.Equal("raising the emergency desktop; it stays up until 2026-12-06T12:30:00Z", started.Message);
        await UntilAsync(() => gate.IsOpen, "raised by the command", context);
        Assert.StartsWith("raised: started by an admin at 2026-12-06T12:00:00Z until 2026-12-06T12:30:00Z", context.Current.Reason, StringComparison.Ordinal);

        gate.ClientConnected();
        var stop = await component.ApplyAsync(new VncCommand(VncCommandAction.Stop, null, Force: false)).WaitAsync(Limit);
        Assert.Equal("1 client connected: the desktop is lowered once it leaves (--force cuts them off); it stays down until bastionctl vnc auto", stop.Message);
        await UntilAsync(() => context.Current.Reason.Contains("lowering once 1 client has disconnected", StringComparison.Ordinal), "held", context);
        Assert.True(gate.IsOpen);

        var forced = await component.ApplyAsync(new VncCommand(VncCommandAction.Stop, null, Force: true)).WaitAsync(Limit);
        Assert.Equal("lowering the emergency desktop now, cutting off 1 client; it stays down until bastionctl vnc auto", forced.Message);
        await UntilAsync(() => !gate.IsOpen && desktop.Xvnc is null, "lowered by force", context);
        Assert.Equal("stop (forced)", context.Detail("override"));

        var auto = await component.ApplyAsync(new VncCommand(VncCommandAction.Auto, null, Force: false)).WaitAsync(Limit);
        Assert.StartsWith("back to automatic (vnc.mode fallback): lowered: check/sshd healthy since", auto.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_reloaded_grace_is_taken_live_without_restarting_Xvnc()
    {
        var (component, desktop, context, gate) = Start(Config(Fallback(failures: 1, grace: "1m")));
        Probe(ok: false, failures: 1);
        await UntilAsync(() => gate.IsOpen, "raised", context);
        Probe(ok: true);
        await UntilAsync(() => context.Current.Reason.Contains("lowering at 2026-12-06T12:01:00Z", StringComparison.Ordinal), "lowering in 1m", context);

        component.UpdatePolicy(new VncPolicySettings(VncMode.Fallback, "sshd", 1, TimeSpan.FromMinutes(10)));

        await UntilAsync(() => context.Current.Reason.Contains("lowering at 2026-12-06T12:10:00Z", StringComparison.Ordinal), "lowering in 10m", context);
        _time.Advance(TimeSpan.FromMinutes(2));
        await Settle();
        Assert.True(gate.IsOpen);
        Assert.Single(desktop.XvncStarts);
        Assert.Equal(0, desktop.Stops);
    }

    [Fact]
    public async Task Xvnc_that_keeps_dying_is_restarted_after_doubling_delays_and_after_a_long_run_at_the_first_delay_again()
    {
        var (_, desktop, context, gate) = Start(Config("  mode: always"));
        await UntilAsync(() => desktop.XvncStarts.Count == 1 && gate.IsOpen, "Xvnc up", context);

        var expected = new[] { 1, 2, 4, 8, 8 };
        for (var i = 0; i < expected.Length; i++)
        {
            var delay = TimeSpan.FromSeconds(expected[i]);
            desktop.KillXvnc();
            await UntilAsync(() => context.Detail("xvncRestarts") == (i + 1).ToString(System.Globalization.CultureInfo.InvariantCulture), $"exit {i + 1} seen", context);
            Assert.Equal(ComponentState.Degraded, context.Current.State);
            Assert.Contains($"Xvnc exited with signal 9; restarting in {Durations.Format(delay)}", context.Current.Reason, StringComparison.Ordinal);
            Assert.False(gate.IsOpen);
            Assert.Equal(GateClosure.XvncRestarting, gate.ClosedReason.Kind);

            _time.Advance(delay - TimeSpan.FromMilliseconds(1));
            await Settle();
            Assert.Equal(i + 1, desktop.XvncStarts.Count); // not a moment early
            _time.Advance(TimeSpan.FromMilliseconds(1));
            await UntilAsync(() => desktop.XvncStarts.Count == i + 2 && gate.IsOpen, $"restart {i + 1}", context);
        }

        // A run of resetAfter (30 s) counts as healthy: the next exit waits the first delay again.
        _time.Advance(TimeSpan.FromSeconds(30));
        desktop.KillXvnc();
        await UntilAsync(() => context.Detail("xvncRestarts") == "6", "exit after a long run", context);
        Assert.Contains("restarting in 1s", context.Current.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Xvnc_that_cannot_start_is_retried_by_the_same_schedule_with_its_reason_in_the_state()
    {
        var config = Config("  mode: always");
        var desktop = new ScriptedDesktop(_time);
        desktop.FailStarts(2);
        var component = new VncComponent(config, _checks, _gates, NullLogger.Instance, () => desktop, new BackoffPolicy(config.Supervision.Backoff, () => 1.0));
        var context = new RecordingContext(_time);
        _gates.For("vnc").SetServing("listening on 127.0.0.1:5901");
        _running = Task.Run(() => component.RunAsync(context, _stop.Token));

        await UntilAsync(() => context.Current.Reason.Contains("display :35 is taken: scripted; retrying with backoff", StringComparison.Ordinal), "the first failure", context);
        Assert.Equal(ComponentState.Degraded, context.Current.State);
        Assert.Equal("XvncFailing", context.Detail("phase"));
        _time.Advance(TimeSpan.FromSeconds(1));
        await Settle();
        Assert.Empty(desktop.XvncStarts); // the second start failed too
        _time.Advance(TimeSpan.FromSeconds(2));
        await UntilAsync(() => desktop.XvncStarts.Count == 1, "the third start", context);
        Assert.Equal(_time.GetUtcNow(), desktop.XvncStarts[0]);
    }

    [Fact]
    public async Task A_session_that_ends_at_once_is_restarted_with_backoff_and_one_that_ran_ten_seconds_at_the_first_delay()
    {
        var (_, desktop, context, _) = Start(Config("  mode: always"));
        await UntilAsync(() => desktop.SessionStarts.Count == 1, "the session", context);

        foreach (var (delay, starts) in new[] { (1, 2), (2, 3), (4, 4) })
        {
            desktop.EndSession();
            await Settle();
            _time.Advance(TimeSpan.FromSeconds(delay) - TimeSpan.FromMilliseconds(1));
            await Settle();
            Assert.Equal(starts - 1, desktop.SessionStarts.Count);
            _time.Advance(TimeSpan.FromMilliseconds(1));
            await UntilAsync(() => desktop.SessionStarts.Count == starts, $"session start {starts}", context);
        }
        Assert.Contains("the session keeps exiting (exited with code 0); restarting it with backoff", context.Current.Reason, StringComparison.Ordinal);

        _time.Advance(VncComponent.SessionRanLongEnough);
        await UntilAsync(() => !context.Current.Reason.Contains("keeps exiting", StringComparison.Ordinal), "the problem cleared after a long run", context);
        desktop.EndSession();
        await Settle();
        _time.Advance(TimeSpan.FromSeconds(1));
        await UntilAsync(() => desktop.SessionStarts.Count == 5, "restarted at the first delay", context);
        Assert.Single(desktop.XvncStarts); // Xvnc untouched by the session's life
    }
}
