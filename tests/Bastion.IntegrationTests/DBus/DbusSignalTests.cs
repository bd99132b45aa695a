using Bastion.IntegrationTests.Daemon;
using Bastion.IntegrationTests.Infrastructure;
using Xunit.Abstractions;

namespace Bastion.IntegrationTests.DBus;

/// <summary>
/// Signals as dbus-monitor sees them, when a component goes down and comes back: a check on a real sshd that is killed and
/// restarted (tunnels emit the same signals through the same supervisor; no D-Bus code knows a component's kind).
/// </summary>
public sealed class DbusSignalTests(ITestOutputHelper output)
{
    private const string Match = "type='signal',sender='org.bastion.Bastion1'";

    [Fact]
    public async Task Dbus_monitor_sees_state_changes_and_properties_changed_when_a_component_goes_down_and_up()
    {
        await using var sshd = await Sshd.StartAsync(Path.GetTempPath(), output);
        await using var env = await BastionOnBus.StartAsync(output, Checks.One("sshd", sshd.Port));
        await env.Daemon.WaitForComponentAsync("sshd", "Running");
        await using var monitor = await DbusMonitor.StartAsync(env.Bus, Match);

        await sshd.KillAsync();
        var down = await monitor.WaitForMessageAsync(m => IsStateChanged(m, "Failed"), "ComponentStateChanged check sshd Failed");
        var statusDown = await monitor.WaitForMessageAsync(
            m => m.Contains("member=PropertiesChanged", StringComparison.Ordinal) && m.Contains("checks 0/1 up", StringComparison.Ordinal),
            "PropertiesChanged Status: checks 0/1 up");
        await sshd.RestartAsync();
        var up = await monitor.WaitForMessageAsync(m => IsStateChanged(m, "Running"), "ComponentStateChanged check sshd Running");
        await monitor.WaitForMessageAsync(
            m => m.Contains("member=PropertiesChanged", StringComparison.Ordinal) && m.Contains("string \"checks 1/1 up\"", StringComparison.Ordinal),
            "PropertiesChanged Status: checks 1/1 up");

        Assert.Contains("path=/org/bastion/Bastion1; interface=org.bastion.Bastion1; member=ComponentStateChanged", down, StringComparison.Ordinal);
        Assert.Contains($"string \"connection refused by 127.0.0.1:{sshd.Port}", down, StringComparison.Ordinal);
        Assert.Matches(@"int64 \d{16}", down);
        Assert.Contains("string \"org.bastion.Bastion1\"", statusDown, StringComparison.Ordinal);
        Assert.Contains("string \"Status\"", statusDown, StringComparison.Ordinal);
        var messages = monitor.Messages();
        Assert.True(messages.ToList().IndexOf(down) < messages.ToList().IndexOf(up), "down came before up");
        // Every transition is a signal, in order: the supervisor passed Degraded on the way down (2 failures needed).
        Assert.Contains(messages, m => IsStateChanged(m, "Degraded"));
    }

    [Fact]
    public async Task After_the_bus_comes_back_the_current_state_is_announced_instead_of_a_backlog()
    {
        await using var sshd = await Sshd.StartAsync(Path.GetTempPath(), output);
        await using var env = await BastionOnBus.StartAsync(output, Checks.One("sshd", sshd.Port));
        await env.Daemon.WaitForComponentAsync("sshd", "Running");

        await env.Bus.KillAsync();
        await sshd.KillAsync();
        await env.Daemon.WaitForComponentAsync("sshd", "Failed"); // Degraded, then Failed, while nobody could hear it
        // Held still while the bus comes back and the monitor attaches, so the reconnection cannot happen unheard.
        env.Daemon.Signal(Posix.SIGSTOP);
        DbusMonitor monitor;
        try
        {
            await env.Bus.StartAsync();
            monitor = await DbusMonitor.StartAsync(env.Bus, Match);
        }
        finally
        {
            env.Daemon.Signal(Posix.SIGCONT);
        }
        await using var _ = monitor;

        var current = await monitor.WaitForMessageAsync(m => IsStateChanged(m, "Failed"), "the current state after reconnecting");
        await monitor.WaitForMessageAsync(m => m.Contains("member=PropertiesChanged", StringComparison.Ordinal), "PropertiesChanged after reconnecting");
        await Task.Delay(500);
        Assert.DoesNotContain(monitor.Messages(), m => IsStateChanged(m, "Degraded"));
        Assert.Single(monitor.Messages(), m => m.Contains("member=ComponentStateChanged", StringComparison.Ordinal));
        Assert.Contains("string \"connection refused", current, StringComparison.Ordinal);
    }

    private static bool IsStateChanged(string message, string state) =>
        message.Contains("member=ComponentStateChanged", StringComparison.Ordinal)
        && message.Contains("string \"check\"", StringComparison.Ordinal)
        && message.Contains("string \"sshd\"", StringComparison.Ordinal)
        && message.Contains($"string \"{state}\"", StringComparison.Ordinal);
}
