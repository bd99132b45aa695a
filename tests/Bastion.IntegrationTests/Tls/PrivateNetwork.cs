using Bastion.IntegrationTests.Infrastructure;

namespace Bastion.IntegrationTests.Tls;

/// <summary>
/// A network namespace of the test's own with only its loopback up: processes started through <see cref="Wrapper"/> talk
/// to each other on 127.0.0.1 there, and <see cref="CutAsync"/> takes that loopback down — packets vanish without a FIN
/// or reset, what a peer whose host froze or whose network went away looks like. Nothing else on the machine is touched.
/// Deleted on dispose (after the processes in it, which the test disposes first).
/// </summary>
internal sealed class PrivateNetwork : IAsyncDisposable
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(20);

    private PrivateNetwork(string name) => Name = name;

    public string Name { get; }

    /// <summary>Runs a command inside the namespace (<c>ip netns exec</c> execs it: same PID).</summary>
    public IReadOnlyList<string> Wrapper => ["ip", "netns", "exec", Name];

    public static async Task<PrivateNetwork> CreateAsync()
    {
        var network = new PrivateNetwork("bastion-test-" + Guid.NewGuid().ToString("N")[..12]);
        await RunAsync(["netns", "add", network.Name]);
        try
        {
            await RunAsync(["netns", "exec", network.Name, "ip", "link", "set", "lo", "up"]);
        }
        catch
        {
            await network.DisposeAsync();
            throw;
        }
        return network;
    }

    /// <summary>Takes the namespace's loopback down: established connections stay open, their packets go nowhere.</summary>
    public Task CutAsync() => RunAsync(["netns", "exec", Name, "ip", "link", "set", "lo", "down"]);

    public async ValueTask DisposeAsync() => await RunAsync(["netns", "del", Name]);

    private static async Task RunAsync(string[] arguments)
    {
        var result = await ExternalCommand.RunAsync("ip", arguments, Limit);
        if (result.ExitCode != 0 || result.TimedOut)
        {
            throw new InvalidOperationException("ip failed (needs root and iproute2):\n" + result.Describe());
        }
    }
}
