using System.Globalization;
using Bastion.IntegrationTests.Infrastructure;
using Bastion.Status;

namespace Bastion.IntegrationTests.Tor;

/// <summary>Shared by the onion tests: an ssh client key, OpenSSH through a SOCKS port, waiting for a service state.</summary>
internal static class OnionTestSupport
{
    /// <summary>Tor in a test network: descriptor upload and first circuits take ~5–20 s on a loaded machine.</summary>
    public static readonly TimeSpan OnionPatience = TimeSpan.FromSeconds(150);

    public static async Task<string> CreateClientKeyAsync(string dir)
    {
        var key = Path.Combine(dir, "id_ed25519");
        var result = await ExternalCommand.RunAsync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", key], TimeSpan.FromSeconds(30));
        Assert.True(result.ExitCode == 0, result.Describe());
        return key;
    }

    /// <summary>OpenSSH's ssh through a SOCKS5 proxy (netcat-openbsd, as the README and bastionctl print it).</summary>
    public static Task<CommandResult> SshAsync(int socksPort, string address, string key, string command, TimeSpan timeout) =>
        ExternalCommand.RunAsync("ssh",
        [
            "-i", key, "-F", "/dev/null", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=60",
            "-o", $"ProxyCommand=nc -X 5 -x 127.0.0.1:{socksPort.ToString(CultureInfo.InvariantCulture)} %h %p",
            "root@" + address, command,
        ], timeout);

    /// <summary>Retries ssh until it works (the first circuits to a fresh descriptor may fail) or the patience is used up.</summary>
    public static async Task<CommandResult> SshUntilItWorksAsync(int socksPort, string address, string key, string command)
    {
        var deadline = DateTime.UtcNow + OnionPatience;
        while (true)
        {
            var result = await SshAsync(socksPort, address, key, command, TimeSpan.FromSeconds(90));
            if ((result.ExitCode == 0 && !result.TimedOut) || DateTime.UtcNow > deadline)
            {
                return result;
            }
            await Task.Delay(1000);
        }
    }

    public static string OnionYaml(TorNetwork network, int socksPort, int sshdPort) =>
        "dbus:\n  bus: none\nonion:\n" + network.TorYaml(socksPort)
        + $"  services:\n    - name: ssh\n      ports:\n        - {{virtual: 22, target: \"127.0.0.1:{sshdPort.ToString(CultureInfo.InvariantCulture)}\"}}\n";

    public static async Task<ComponentStatus> WaitReachableAsync(BastiondProcess daemon, TorNetwork network, Func<ComponentStatus, bool>? also = null)
    {
        try
        {
            var status = await daemon.WaitForStatusAsync(
                s => s.Components.Any(c => c.Kind == "onion" && c.Details.GetValueOrDefault("state") == "reachable" && c.State == "Running" && (also?.Invoke(c) ?? true)),
                "onion/ssh reachable", OnionPatience);
            return status.Components.Single(c => c.Kind == "onion");
        }
        catch (TimeoutException e)
        {
            throw new TimeoutException(e.Message + "\n" + network.LogTail(), e);
        }
    }
}
