using Bastion.IntegrationTests.Infrastructure;
using Bastion.Status;
using Xunit.Abstractions;

namespace Bastion.IntegrationTests.Tor;

/// <summary>
/// The onion tests' starting point: a real sshd that accepts a fresh client key, and a bastiond in the private network
/// publishing it as onion service <c>ssh</c> (<see cref="OnionTestSupport.OnionYaml"/>), started and reachable.
/// </summary>
internal sealed class PublishedSshd(BastiondProcess daemon, Sshd sshd, string clientKey, ComponentStatus onion) : IAsyncDisposable
{
    public BastiondProcess Daemon { get; } = daemon;
    public Sshd Sshd { get; } = sshd;

    /// <summary>The private key file of an ssh client that <see cref="Sshd"/> authorizes.</summary>
    public string ClientKey { get; } = clientKey;

    /// <summary>The onion component as it was when it first read reachable.</summary>
    public ComponentStatus Onion { get; } = onion;

    public string Address => Onion.Details["address"];

    public static async Task<PublishedSshd> StartAsync(TorNetwork network, ITestOutputHelper output)
    {
        var daemon = new BastiondProcess(output);
        Sshd? sshd = null;
        try
        {
            sshd = await Sshd.StartAsync(daemon.Root.Path, output);
            var key = await OnionTestSupport.CreateClientKeyAsync(daemon.Root.Path);
            sshd.AuthorizeKey(await File.ReadAllTextAsync(key + ".pub"));
            daemon.WriteConfig(OnionTestSupport.OnionYaml(network, FreePort.Pick(), sshd.Port));
            await daemon.StartAndWaitReadyAsync(TorNetwork.DaemonEnvironment);
            return new PublishedSshd(daemon, sshd, key, await OnionTestSupport.WaitReachableAsync(daemon, network));
        }
        catch
        {
            if (sshd is not null)
            {
                await sshd.DisposeAsync();
            }
            await daemon.DisposeAsync();
            throw;
        }
    }

    /// <summary>sshd first, then bastiond (whose private directory holds sshd's).</summary>
    public async ValueTask DisposeAsync()
    {
        await Sshd.DisposeAsync();
        await Daemon.DisposeAsync();
    }
}
