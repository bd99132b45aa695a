using System.Net;
using System.Net.Sockets;
using Bastion.Config;
using Bastion.Daemon.Checks;
using Bastion.Daemon.Components;
using Bastion.Supervision;
using Bastion.Vnc;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace Bastion.Daemon.Tests;

/// <summary>
/// How components meet inside one daemon (<see cref="DaemonRuntime"/>): built twice in one process they share nothing,
/// a reload forgets what the config no longer names, and a check built by the plan feeds the emergency desktop's
/// fallback policy, all on a fake clock (the check itself probes a real loopback listener).
/// </summary>
public sealed class DaemonRuntimeTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(20);

    private static FakeTimeProvider Clock() => new(new DateTimeOffset(2026, 12, 6, 0, 0, 0, TimeSpan.Zero));

    private static BastionConfig Config(string yaml)
    {
        var result = ConfigLoader.LoadText(yaml, "/etc/bastion/bastion.yaml", new ConfigLoadOptions { CheckFiles = false });
        Assert.True(result.Ok, string.Join("\n", result.Errors));
        return result.Config!;
    }

    private static string Checks(int port, params string[] names) =>
        "checks:\n" + string.Concat(names.Select(name => $"""
              - name: {name}
                endpoint: 127.0.0.1:{port}
                interval: 10s
                timeout: 2s
                failures: 2

            """));

    private static CheckResult Result(string check, bool ok, int failures = 0) =>
        new(check, ok, ok ? "answered" : "refused", DateTimeOffset.UnixEpoch, failures);

    [Fact]
    public void Two_runtimes_in_one_process_share_no_check_results_and_no_gates()
    {
        var first = new DaemonRuntime(NullLoggerFactory.Instance, Clock());
        var second = new DaemonRuntime(NullLoggerFactory.Instance, Clock());
        var seenBySecond = new List<CheckResult>();
        using var subscription = second.Checks.Subscribe("sshd", seenBySecond.Add);

        first.Checks.Publish(Result("sshd", ok: false, failures: 1));

        Assert.NotNull(first.Checks.LastOf("sshd"));
        Assert.Null(second.Checks.LastOf("sshd"));
        Assert.Empty(seenBySecond);
        Assert.NotSame(first.VncGates.For("vnc"), second.VncGates.For("vnc"));
        Assert.Same(first.VncGates.For("vnc"), first.VncGates.For("vnc"));
        Assert.NotSame(first.Sessions, second.Sessions);
        Assert.NotSame(first.Tor, second.Tor);
    }

    [Fact]
    public void A_subscriber_gets_the_last_result_at_once_then_every_new_one_in_order_until_disposed()
    {
        var runtime = new DaemonRuntime(NullLoggerFactory.Instance, Clock());
        runtime.Checks.Publish(Result("sshd", ok: true));
        runtime.Checks.Publish(Result("other", ok: false, failures: 3));
        var seen = new List<CheckResult>();

        var subscription = runtime.Checks.Subscribe("sshd", seen.Add);
        runtime.Checks.Publish(Result("sshd", ok: false, failures: 1));
        runtime.Checks.Publish(Result("sshd", ok: false, failures: 2));
        subscription.Dispose();
        runtime.Checks.Publish(Result("sshd", ok: true));

        Assert.Equal([true, false, false], seen.Select(r => r.Ok));
        Assert.Equal([0, 1, 2], seen.Select(r => r.ConsecutiveFailures));
        Assert.All(seen, r => Assert.Equal("sshd", r.Check));
    }

    [Fact]
    public void A_reload_that_removes_a_check_forgets_its_last_result_and_keeps_the_others()
    {
        var runtime = new DaemonRuntime(NullLoggerFactory.Instance, Clock());
        ComponentPlan.Build(Config(Checks(1, "sshd", "web")), runtime);
        runtime.Checks.Publish(Result("sshd", ok: true));
        runtime.Checks.Publish(Result("web", ok: true));

        var plan = ComponentPlan.Build(Config(Checks(1, "sshd")), runtime);

        Assert.Equal(["check/sshd"], plan.Select(s => s.Id.ToString()));
        Assert.NotNull(runtime.Checks.LastOf("sshd"));
        Assert.Null(runtime.Checks.LastOf("web"));
    }

    [Fact]
    public async Task A_check_built_by_the_plan_raises_the_fallback_policy_after_its_failures_on_a_fake_clock()
    {
        var time = Clock();
        var runtime = new DaemonRuntime(NullLoggerFactory.Instance, time);
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var policy = new VncFallbackPolicy(VncMode.Fallback, "sshd", failures: 2, grace: TimeSpan.FromMinutes(1));
        var gate = new Lock();
        var results = new List<CheckResult>();
        using var subscription = runtime.Checks.Subscribe("sshd", result =>
        {
            lock (gate)
            {
                results.Add(result);
                if (result.Ok)
                {
                    policy.ProbeSucceeded(result.At, result.Text);
                }
                else
                {
                    policy.ProbeFailed(result.At, result.Text);
                }
            }
        });
        var supervisor = new Supervisor(time, NullLoggerFactory.Instance, () => 1.0);
        await supervisor.ApplyAsync(ComponentPlan.Build(Config(Checks(port, "sshd")), runtime));
        try
        {
            await UntilAsync(() => Count(gate, results) == 1, "the first probe");
            Assert.True(results[0].Ok);
            lock (gate)
            {
                Assert.False(policy.Decide(time.GetUtcNow(), raised: false, clients: 0).Raised);
            }

            // sshd goes away: the next two probes (one interval apart on the fake clock) fail.
            listener.Stop();
            for (var probe = 2; probe <= 3; probe++)
            {
                await AdvanceUntilAsync(time, () => Count(gate, results) >= probe, $"probe {probe}");
            }

            lock (gate)
            {
                Assert.Equal([true, false, false], results.Take(3).Select(r => r.Ok));
                Assert.Equal(2, results[2].ConsecutiveFailures);
                Assert.True(policy.Decide(time.GetUtcNow(), raised: false, clients: 0).Raised);
            }
            // The check reports its own state just after publishing the probe.
            await UntilAsync(() => supervisor.Components.Single().State.State == ComponentState.Failed, "check/sshd Failed");
        }
        finally
        {
            await supervisor.StopAllAsync("test over", TimeSpan.FromSeconds(5));
        }
    }

    private static int Count(Lock gate, List<CheckResult> results)
    {
        lock (gate)
        {
            return results.Count;
        }
    }

    private static Task UntilAsync(Func<bool> condition, string what) => Wait.UntilAsync(condition, what, Limit);

    /// <summary>
    /// Moves the fake clock a second at a time until the condition holds: small steps, because the component may not be
    /// waiting on the clock yet when a step is taken (a 10 s interval then takes ten steps, never one that skips a probe).
    /// </summary>
    private static async Task AdvanceUntilAsync(FakeTimeProvider time, Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + Limit;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"timed out waiting for {what}");
            time.Advance(TimeSpan.FromSeconds(1));
            await Task.Delay(20);
        }
    }
}
