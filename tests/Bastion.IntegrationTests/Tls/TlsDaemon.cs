using Bastion.IntegrationTests.Infrastructure;
using Bastion.Status;
using Xunit.Abstractions;

namespace Bastion.IntegrationTests.Tls;

/// <summary>Starts bastiond with one tls: endpoint and waits until it listens (or, in mode dial, runs).</summary>
internal static class TlsDaemon
{
    public static async Task<(BastiondProcess Daemon, int Port)> StartListeningAsync(ITestOutputHelper output, string config, string name = "vnc")
    {
        var daemon = new BastiondProcess(output, config);
        try
        {
            await daemon.StartAndWaitReadyAsync();
            var status = await daemon.WaitForStatusAsync(s => Endpoint(s, name)?.Details.ContainsKey("boundPort") == true, $"tls/{name} bound");
            return (daemon, int.Parse(Endpoint(status, name)!.Details["boundPort"], System.Globalization.CultureInfo.InvariantCulture));
        }
        catch
        {
            await daemon.DisposeAsync();
            throw;
        }
    }

    public static ComponentStatus? Endpoint(StatusSnapshot status, string name) =>
        status.Components.FirstOrDefault(c => c.Kind == "tls" && c.Name == name);

    public static Task<string> WaitForLogAsync(this BastiondProcess daemon, string contains) =>
        daemon.Log.WaitForLineAsync(l => l.Contains(contains, StringComparison.Ordinal), BastiondProcess.Patience, contains);
}
