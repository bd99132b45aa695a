using System.Net;
using System.Net.Sockets;
using Bastion.IntegrationTests.Infrastructure;

namespace Bastion.IntegrationTests.Lab;

/// <summary>
/// scripts/lab.sh --once, end to end, with the binaries under test: a private Tor network, a throwaway sshd, bastiond
/// started as systemd would (NOTIFY_SOCKET, WATCHDOG_USEC), READY, the sshd check Running, the sshd published as an
/// onion and OpenSSH running a command over it through the lab's client tor, the VNC fallback drill (sshd stopped, the
/// emergency desktop up over mutual TLS per <c>bastionctl vnc probe</c>, sshd back, the desktop lowered), a reload, the
/// fleet (a nats-server: <c>bastionctl fleet status</c> shows the node fresh, a signed <c>vnc start</c> is answered ok) and a
/// clean stop.
/// </summary>
public sealed class LabScriptTests
{
    // The script's own waits add up to about 3 minutes in the worst case; `timeout` then sends SIGTERM so
    // the script tears down (its teardown takes at most ~25s) and prints its logs; SIGKILL 60s later.
    // The test's own bound comes last.
    private const string ScriptTimeout = "240s";
    private static readonly TimeSpan TestTimeout = TimeSpan.FromMinutes(5);

    [Fact]
    public async Task Lab_once_starts_sshd_and_bastiond_sees_the_check_running_ssh_works_over_the_onion_the_desktop_takes_over_reloads_and_stops_cleanly()
    {
        var script = Path.Combine(Binaries.RepositoryRoot, "scripts", "lab.sh");
        var environment = new Dictionary<string, string>
        {
            ["BASTIOND"] = Binaries.Bastiond,
            ["BASTIONCTL"] = Binaries.Bastionctl,
            // Not the default 22022: another lab or test run on this machine may hold it.
            ["BASTION_LAB_SSH_PORT"] = FreeLoopbackPort(22100, 22999).ToString(System.Globalization.CultureInfo.InvariantCulture),
        };

        var result = await ExternalCommand.RunAsync(
            "timeout", ["--kill-after=60s", ScriptTimeout, script, "--once"], TestTimeout, environment, Binaries.RepositoryRoot);

        Assert.False(result.TimedOut, result.Describe());
        Assert.True(result.ExitCode == 0, result.Describe());
        Assert.Contains("OK: READY, check Running, ssh over the onion ", result.StdErr, StringComparison.Ordinal);
        Assert.Contains("over the onion (sshd pid", result.StdOut, StringComparison.Ordinal);
        Assert.Contains("VNC fallback drill (sshd stopped → desktop up over mutual TLS in ", result.StdErr, StringComparison.Ordinal);
        Assert.Matches(@"(?m)^vnc probe: up: 1280x800 '.+' in \d+ ms \(127\.0\.0\.1:\d+ over mutual TLS\)$", result.StdOut);
        Assert.Contains("VNC drill: desktop lowered again", result.StdErr, StringComparison.Ordinal);
        // The fleet: the node's signed status read from the lab's nats-server, and a signed vnc start answered by the node.
        Assert.Matches(@"(?m)^lab +fresh +\S+ ago +\S", result.StdOut);
        Assert.Matches(@"(?m)^lab: ok: .+$", result.StdOut);
        Assert.Contains("fleet (status and a signed vnc start through NATS)", result.StdErr, StringComparison.Ordinal);
    }

    /// <summary>A port in [from, to] that nothing listens on right now (lab ports stay below the ephemeral range).</summary>
    private static int FreeLoopbackPort(int from, int to)
    {
        var start = Random.Shared.Next(from, to + 1);
        for (var i = 0; i <= to - from; i++)
        {
            var port = from + ((start - from + i) % (to - from + 1));
            try
            {
                using var listener = new TcpListener(IPAddress.Loopback, port);
                listener.Start();
                listener.Stop();
                return port;
            }
            catch (SocketException)
            {
                // taken: try the next one
            }
        }
        throw new InvalidOperationException($"no free loopback port in {from}..{to}");
    }
}
