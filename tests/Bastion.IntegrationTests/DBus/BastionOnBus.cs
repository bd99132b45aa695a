using Bastion.IntegrationTests.Cli;
using Bastion.IntegrationTests.Infrastructure;
using Xunit.Abstractions;

namespace Bastion.IntegrationTests.DBus;

/// <summary>A private dbus-daemon and a bastiond exporting its API on it (<c>dbus.bus: address</c>), plus bastionctl pointed at it.</summary>
internal sealed class BastionOnBus : IAsyncDisposable
{
    private BastionOnBus(DbusDaemon bus, BastiondProcess daemon)
    {
        Bus = bus;
        Daemon = daemon;
    }

    public DbusDaemon Bus { get; }
    public BastiondProcess Daemon { get; }

    /// <summary>Starts both and returns once READY was sent and the daemon serves its name.</summary>
    public static async Task<BastionOnBus> StartAsync(ITestOutputHelper output, string configBody, bool permissiveBus = false, string? adminGroup = null)
    {
        var bus = await DbusDaemon.StartAsync(output, permissiveBus);
        var daemon = new BastiondProcess(output, bus.ConfigSection + (adminGroup is null ? "" : $"  adminGroup: {adminGroup}\n") + configBody);
        var both = new BastionOnBus(bus, daemon);
        try
        {
            await daemon.StartAndWaitReadyAsync();
            await daemon.Log.WaitForLineAsync(l => l.Contains("dbus: serving org.bastion.Bastion1", StringComparison.Ordinal),
                BastiondProcess.Patience, "dbus: serving");
        }
        catch
        {
            await both.DisposeAsync();
            throw;
        }
        return both;
    }

    /// <summary>bastionctl ARGS --runtime-dir DIR, with the private bus as its system bus.</summary>
    public Task<BastionctlRun> CtlAsync(params string[] args) =>
        Bastionctl.RunAsync([.. args, "--runtime-dir", Daemon.RuntimeDir], null, Bus.ClientEnvironment);

    /// <summary>A check on a port where nothing listens (a component that needs no peer and stays put).</summary>
    public static string DeadCheck(string name) =>
        $"checks:\n  - name: {name}\n    endpoint: 127.0.0.1:1\n    interval: 1s\n    timeout: 500ms\n    failures: 1\n";

    public async ValueTask DisposeAsync()
    {
        try
        {
            await Daemon.DisposeAsync();
        }
        finally
        {
            await Bus.DisposeAsync();
        }
    }
}
