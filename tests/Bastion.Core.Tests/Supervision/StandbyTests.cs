using Bastion.Supervision;

namespace Bastion.Tests.Supervision;

/// <summary>Standby: a component idle on purpose (the emergency desktop while sshd is fine) — a state, not a problem.</summary>
public sealed class StandbyTests
{
    [Fact]
    public async Task A_standby_report_is_a_state_with_its_reason()
    {
        var time = Clocks.Fake();
        var raise = new SemaphoreSlim(0);
        var component = new ScriptedComponent(async (ctx, _, ct) =>
        {
            ctx.ReportStandby("lowered: check/sshd is healthy");
            await raise.WaitAsync(ct);
            ctx.ReportRunning("raised: check/sshd failed 3 probes in a row");
            await Task.Delay(Timeout.Infinite, ct);
        });
        using var supervisor = Supervisors.Of(Specs.Of("a", "x", component), time);
        supervisor.Start();

        await Wait.ForStateAsync(supervisor, ComponentState.Standby, 1);
        Assert.Equal("lowered: check/sshd is healthy", supervisor.State.Reason);

        raise.Release();
        await Wait.ForStateAsync(supervisor, ComponentState.Running, 1);
        Assert.Equal("raised: check/sshd failed 3 probes in a row", supervisor.State.Reason);
        await supervisor.StopAsync("test over", TimeSpan.FromSeconds(5));
    }
}
