using System.Diagnostics;
using Bastion.IntegrationTests.Infrastructure;

namespace Bastion.IntegrationTests.DBus;

/// <summary>dbus-monitor on the private bus (as root: BecomeMonitor), its lines collected; killed on dispose.</summary>
internal sealed class DbusMonitor : IAsyncDisposable
{
    private readonly Process _process;

    private DbusMonitor(Process process) => _process = process;

    public ProcessOutput Output { get; } = new();

    public static async Task<DbusMonitor> StartAsync(DbusDaemon bus, params string[] matches)
    {
        var psi = new ProcessStartInfo("dbus-monitor")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add("--address");
        psi.ArgumentList.Add(bus.Address);
        foreach (var match in matches)
        {
            psi.ArgumentList.Add(match);
        }
        var monitor = new DbusMonitor(Process.Start(psi) ?? throw new InvalidOperationException("cannot start dbus-monitor"));
        monitor.Output.Attach(monitor._process);
        // It announces itself with the NameLost of its own unique name once it became a monitor.
        await monitor.Output.WaitForLineAsync(l => l.Contains("member=NameLost", StringComparison.Ordinal), TimeSpan.FromSeconds(15), "dbus-monitor ready");
        return monitor;
    }

    /// <summary>The text of every message (header line and its arguments) seen so far.</summary>
    public IReadOnlyList<string> Messages()
    {
        var messages = new List<string>();
        foreach (var line in Output.Lines)
        {
            if (line.StartsWith("signal ", StringComparison.Ordinal) || line.StartsWith("method ", StringComparison.Ordinal) || messages.Count == 0)
            {
                messages.Add(line);
            }
            else
            {
                messages[^1] += "\n" + line;
            }
        }
        return messages;
    }

    public async Task<string> WaitForMessageAsync(Func<string, bool> match, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (DateTime.UtcNow < deadline)
        {
            var hit = Messages().FirstOrDefault(match);
            if (hit is not null)
            {
                return hit;
            }
            await Task.Delay(25);
        }
        throw new TimeoutException($"dbus-monitor never saw: {what}\n{Output}");
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
        }
        _process.Dispose();
    }
}
