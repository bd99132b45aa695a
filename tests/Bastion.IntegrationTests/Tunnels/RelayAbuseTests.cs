using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Bastion.IntegrationTests.Infrastructure;
using Xunit.Abstractions;
using static Bastion.IntegrationTests.Tunnels.TunnelYaml;

namespace Bastion.IntegrationTests.Tunnels;

/// <summary>
/// A hostile local user against the tunnels' data path, with a real sshd: connections that end must not leave the
/// daemon holding anything, held connections cost a bounded share and no threads, inner ports serve nobody else.
/// </summary>
public sealed class RelayAbuseTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    /// <summary>The machine running these tests is loaded: probes generous enough that the tunnels stay up.</summary>
    internal const string LenientProbe = "interval: 5s\n      timeout: 4s\n      failures: 5";

    [Fact]
    public async Task A_remote_tunnels_end_to_end_probes_leave_no_connection_open_at_the_target()
    {
        await using var sshd = await Sshd.StartAsync(Path.GetTempPath(), output);
        await using var target = new HoldingServer(); // never closes on its own, like sshd before a login
        var key = await sshd.CreateUserKeyAsync();
        var remotePort = FreePort.Pick();
        await using var daemon = new BastiondProcess(output, TunnelsYaml(
            Item("back", "remote", sshd, key, $"127.0.0.1:{remotePort}", $"127.0.0.1:{target.Port}",
                probe: "interval: 2s\n      timeout: 1900ms\n      failures: 5")));
        await daemon.StartAndWaitReadyAsync();
        await daemon.WaitForStatusAsync(s => s.Components.Single().Details.GetValueOrDefault("endToEnd") == "ok", "the first end-to-end check passed");

        await WaitUntilAsync(() => target.Accepted >= 4, "four end-to-end probes reached the target", TimeSpan.FromSeconds(60));
        await WaitUntilAsync(() => ProcessSockets.ConnectionsTo(daemon.Pid, target.Port) == 0,
            "bastiond holds no probe connection to the target");
        var status = daemon.ReadStatus().Components.Single();
        output.WriteLine($"target accepted {target.Accepted} probe connections; bastiond holds none; status connections={status.Details["connections"]}");
        Assert.Equal("0", status.Details["connections"]); // probes are not users' connections
    }

    [Fact]
    public async Task When_the_target_closes_a_remote_tunnel_closes_the_server_side_connection_every_time()
    {
        await using var sshd = await Sshd.StartAsync(Path.GetTempPath(), output);
        using var target = new TcpListener(IPAddress.Loopback, 0);
        target.Start();
        var targetPort = ((IPEndPoint)target.LocalEndpoint).Port;
        using var stop = new CancellationTokenSource();
        var serve = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                using var c = await target.AcceptSocketAsync(stop.Token);
                try
                {
                    await c.SendAsync("bye\n"u8.ToArray(), SocketFlags.None);
                }
                catch (SocketException)
                {
                    // The tunnel's own end-to-end probe closes its target connection as soon as it is accepted; this
                    // server must outlive that (when it died here, every later connection waited in its backlog).
                }
            }
        });
        var key = await sshd.CreateUserKeyAsync();
        var remotePort = FreePort.Pick();
        await using var daemon = new BastiondProcess(output, TunnelsYaml(
            Item("back", "remote", sshd, key, $"127.0.0.1:{remotePort}", $"127.0.0.1:{targetPort}", probe: LenientProbe)));
        await daemon.StartAndWaitReadyAsync();
        await daemon.WaitForComponentAsync("back", "Running");

        for (var i = 0; i < 20; i++)
        {
            using var client = new TcpClient();
            await client.ConnectAsync(IPAddress.Loopback, remotePort).WaitAsync(Patience);
            var got = new MemoryStream();
            await client.GetStream().CopyToAsync(got).WaitAsync(Patience); // ends at the EOF the target's close caused
            Assert.Equal("bye\n", System.Text.Encoding.ASCII.GetString(got.ToArray()));
        }
        await WaitUntilAsync(() => ProcessSockets.ConnectionsTo(daemon.Pid, targetPort) == 0, "bastiond holds nothing toward the target");
        await stop.CancelAsync();
        target.Stop();
        await serve.WaitAsync(Patience).ContinueWith(_ => { }, TaskScheduler.Default);
    }

    [Fact]
    public async Task When_clients_on_the_server_hang_up_a_remote_tunnel_to_sshd_leaves_no_connection_at_sshd()
    {
        // The documented phone-home setup: -R with the local sshd as the target. A client on the server that connects and
        // hangs up must not leave an unauthenticated connection at sshd (they would fill its MaxStartups and drop logins).
        await using var sshd = await Sshd.StartAsync(Path.GetTempPath(), output);
        var key = await sshd.CreateUserKeyAsync();
        var remotePort = FreePort.Pick();
        await using var daemon = new BastiondProcess(output, TunnelsYaml(
            Item("home", "remote", sshd, key, $"127.0.0.1:{remotePort}", $"127.0.0.1:{sshd.Port}", probe: LenientProbe)));
        await daemon.StartAndWaitReadyAsync();
        await daemon.WaitForComponentAsync("home", "Running");
        var session = ProcessSockets.ConnectionsTo(daemon.Pid, sshd.Port); // bastiond's own SSH session
        output.WriteLine($"bastiond's connections to sshd before: {session}");

        for (var i = 0; i < 20; i++)
        {
            using var client = new TcpClient();
            await client.ConnectAsync(IPAddress.Loopback, remotePort).WaitAsync(Patience);
            var banner = new byte[7];
            await client.GetStream().ReadExactlyAsync(banner).AsTask().WaitAsync(Patience);
            Assert.Equal("SSH-2.0", System.Text.Encoding.ASCII.GetString(banner)); // through the tunnel to sshd
        } // and hangs up

        await WaitUntilAsync(() => ProcessSockets.ConnectionsTo(daemon.Pid, sshd.Port) <= session,
            "bastiond holds no connection to sshd but its SSH session");
        var status = daemon.ReadStatus().Components.Single();
        Assert.Equal("0", status.Details["activeConnections"]);
    }

    [Fact]
    public async Task A_remote_tunnel_refuses_connections_past_its_limit_at_the_server_and_serves_those_within_it()
    {
        await using var sshd = await Sshd.StartAsync(Path.GetTempPath(), output);
        await using var echo = new EchoServer();
        var key = await sshd.CreateUserKeyAsync();
        var remotePort = FreePort.Pick();
        await using var daemon = new BastiondProcess(output, TunnelsYaml(
            Item("back", "remote", sshd, key, $"127.0.0.1:{remotePort}", $"127.0.0.1:{echo.Port}",
                probe: "interval: 10m\n      timeout: 4s\n      failures: 5", // one end-to-end check, at the start
                extra: "    limits:\n      connections: 2\n      perSource: 2\n")));
        await daemon.StartAndWaitReadyAsync();
        await daemon.WaitForStatusAsync(s => s.Components.Single().Details.GetValueOrDefault("endToEnd") == "ok", "the end-to-end check passed");
        await WaitUntilAsync(() => ProcessSockets.ConnectionsTo(daemon.Pid, echo.Port) == 0, "the check's connection to the target is gone");

        await using var first = await EchoClient.ConnectAsync(remotePort);
        await using var second = await EchoClient.ConnectAsync(remotePort);
        await first.RoundTripAsync(1024);
        await second.RoundTripAsync(1024);
        // A third: the server accepts it, Bastion refuses its channel, and the server closes it without a byte (with a
        // reset, as the client's bytes were never read).
        using (var third = new TcpClient())
        {
            await third.ConnectAsync(IPAddress.Loopback, remotePort).WaitAsync(Patience);
            await third.GetStream().WriteAsync("hello"u8.ToArray()).AsTask().WaitAsync(Patience);
            try
            {
                Assert.Equal(0, await third.GetStream().ReadAsync(new byte[16]).AsTask().WaitAsync(Patience));
            }
            catch (IOException e) when (e.InnerException is SocketException { SocketErrorCode: SocketError.ConnectionReset })
            {
            }
        }
        await daemon.WaitForStatusAsync(s => s.Components.Single().Details.GetValueOrDefault("refusedSourceLimit") == "1",
            "the refusal is counted (the source's limit is reached first: all three come from 127.0.0.1 on the server)");
        // Those within the limit still work.
        await first.RoundTripAsync(32 * 1024);
        await second.RoundTripAsync(32 * 1024);
    }

    [Fact]
    public async Task Fifteen_hundred_connections_held_by_an_unprivileged_user_cost_a_bounded_share_and_the_admin_still_gets_through()
    {
        await using var sshd = await Sshd.StartAsync(Path.GetTempPath(), output);
        await using var echo = new EchoServer();
        var key = await sshd.CreateUserKeyAsync();
        await using var daemon = new BastiondProcess(output, TunnelsYaml(
            Item("admin", "local", sshd, key, "127.0.0.1:0", $"127.0.0.1:{echo.Port}", probe: LenientProbe)));
        await daemon.StartAndWaitReadyAsync();
        var tunnel = await daemon.WaitForComponentAsync("admin", "Running");
        var port = int.Parse(tunnel.Details["boundPort"], CultureInfo.InvariantCulture);
        var threadsBefore = ProcessSockets.Threads(daemon.Pid);

        const string holder = """
            import socket, sys
            port, n = int(sys.argv[1]), int(sys.argv[2])
            held, reset, errors = [], 0, 0
            for _ in range(n):
                try:
                    held.append(socket.create_connection(("127.0.0.1", port), timeout=30))
                except ConnectionResetError:
                    reset += 1  # accepted by the kernel and refused by the relay before connect() looked
                except OSError:
                    errors += 1
            print("connected", len(held) + reset, "errors", errors, flush=True)
            sys.stdin.read()
            """;
        using var attacker = StartAsNobody("/usr/bin/python3", "-c", holder, port.ToString(CultureInfo.InvariantCulture), "1500");
        try
        {
            var line = await attacker.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(120));
            output.WriteLine("attacker (uid nobody): " + line);
            // Every connection reached bastiond (a refused one may read as reset to the attacker when the relay is quick).
            Assert.Equal("connected 1500 errors 0", line);

            var status = await daemon.WaitForStatusAsync(s =>
            {
                var d = s.Components.Single(c => c.Name == "admin").Details;
                return d.GetValueOrDefault("refusedSourceLimit") == "1468" && d.GetValueOrDefault("activeConnections") == "32";
            }, "32 of nobody's connections relayed (the per-source default), the other 1,468 refused and counted", TimeSpan.FromSeconds(90));
            var details = status.Components.Single(c => c.Name == "admin").Details;
            Assert.Equal("0", details["refusedTunnelLimit"]);
            Assert.Equal("Running", status.Components.Single(c => c.Name == "admin").State);

            var threadsAfter = ProcessSockets.Threads(daemon.Pid);
            output.WriteLine($"bastiond threads: {threadsBefore} before, {threadsAfter} with 1,500 connections held");
            // SSH.NET blocks one thread per relayed -L connection (32 here); Bastion's relay adds none per connection.
            Assert.True(threadsAfter < threadsBefore + 80, $"threads grew from {threadsBefore} to {threadsAfter}");

            // The admin (another uid) is served at once.
            await using (var admin = await EchoClient.ConnectAsync(port))
            {
                await admin.RoundTripAsync(64 * 1024);
            }
            Assert.False(daemon.Process.HasExited);
        }
        finally
        {
            Kill(attacker);
        }
    }

    [Fact]
    public async Task Bastiond_listens_on_no_port_but_the_binds_users_are_meant_to_use()
    {
        await using var sshd = await Sshd.StartAsync(Path.GetTempPath(), output);
        await using var echo = new EchoServer();
        var key = await sshd.CreateUserKeyAsync();
        var remotePort = FreePort.Pick();
        await using var daemon = new BastiondProcess(output, TunnelsYaml(
            Item("fwd-local", "local", sshd, key, "127.0.0.1:0", $"127.0.0.1:{echo.Port}", probe: LenientProbe),
            Item("fwd-socks", "dynamic", sshd, key, "127.0.0.1:0", null, probe: LenientProbe),
            Item("fwd-remote", "remote", sshd, key, $"127.0.0.1:{remotePort}", $"127.0.0.1:{echo.Port}", probe: LenientProbe)));
        await daemon.StartAndWaitReadyAsync();
        var local = await daemon.WaitForComponentAsync("fwd-local", "Running");
        var socks = await daemon.WaitForComponentAsync("fwd-socks", "Running");
        await daemon.WaitForStatusAsync(s => s.Components.Single(c => c.Name == "fwd-remote").Details.GetValueOrDefault("endToEnd") == "ok",
            "the remote tunnel's end-to-end check passed");
        // All three carry data: -L and -D here, -R on the server's port.
        await using (var ok = await EchoClient.ConnectAsync(int.Parse(local.Details["boundPort"], CultureInfo.InvariantCulture)))
        {
            await ok.RoundTripAsync(1024);
        }
        await using (var back = await EchoClient.ConnectAsync(remotePort))
        {
            await back.RoundTripAsync(1024);
        }
        var published = new HashSet<int>
        {
            int.Parse(local.Details["boundPort"], CultureInfo.InvariantCulture),
            int.Parse(socks.Details["boundPort"], CultureInfo.InvariantCulture),
        };
        var listening = ListeningPorts(daemon.Pid);
        output.WriteLine("bastiond listens on: " + string.Join(", ", listening));
        // No inner port: -L/-D open a channel per connection, -R's connections arrive as channels and its end-to-end
        // check is a channel too. So there is nothing on loopback another local user could use around the limits.
        Assert.Equal(published.Order(), listening.Order());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_bind_someone_else_listens_on_is_local_port_busy_and_never_shared_even_when_they_allow_port_sharing(bool squatterSharesPorts)
    {
        await using var sshd = await Sshd.StartAsync(Path.GetTempPath(), output);
        await using var echo = new EchoServer();
        var key = await sshd.CreateUserKeyAsync();
        using var squatter = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        if (squatterSharesPorts)
        {
            squatter.SetRawSocketOption(1, 15, BitConverter.GetBytes(1)); // SO_REUSEPORT: what .NET's ReuseAddress sets on Linux
            squatter.SetRawSocketOption(1, 2, BitConverter.GetBytes(1)); // SO_REUSEADDR
        }
        squatter.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        squatter.Listen(16);
        var port = ((IPEndPoint)squatter.LocalEndPoint!).Port;
        await using var daemon = new BastiondProcess(output, TunnelsYaml(
            Item("taken", "local", sshd, key, $"127.0.0.1:{port}", $"127.0.0.1:{echo.Port}", probe: LenientProbe)));
        await daemon.StartAndWaitReadyAsync();

        var status = await daemon.WaitForStatusAsync(s => s.Components.Single().Details.GetValueOrDefault("lastFailure") == "LocalPortBusy",
            "the tunnel failed with the typed outcome LocalPortBusy");
        Assert.NotEqual("Running", status.Components.Single().State);
        Assert.StartsWith("local port busy", status.Components.Single().Reason, StringComparison.Ordinal);
        // Nobody but the squatter listens there: every connection reaches it, none the tunnel.
        Assert.DoesNotContain(port, ListeningPorts(daemon.Pid));
    }

    internal static List<int> ListeningPorts(int pid)
    {
        var inodes = Directory.EnumerateFileSystemEntries($"/proc/{pid}/fd")
            .Select(fd => { try { return new FileInfo(fd).LinkTarget; } catch (IOException) { return null; } })
            .Where(t => t is not null && t.StartsWith("socket:[", StringComparison.Ordinal))
            .Select(t => t![8..^1]).ToHashSet(StringComparer.Ordinal);
        var ports = new List<int>();
        foreach (var table in new[] { "/proc/net/tcp", "/proc/net/tcp6" })
        {
            foreach (var f in File.ReadLines(table).Skip(1).Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)))
            {
                if (f.Length > 9 && f[3] == "0A" && inodes.Contains(f[9]))
                {
                    ports.Add(int.Parse(f[1][(f[1].IndexOf(':', StringComparison.Ordinal) + 1)..], NumberStyles.HexNumber, CultureInfo.InvariantCulture));
                }
            }
        }
        return ports;
    }

    /// <summary>Runs a command as the unprivileged user nobody (with room for many sockets), stdin kept open.</summary>
    internal static Process StartAsNobody(string command, params string[] args)
    {
        var psi = new ProcessStartInfo("/bin/sh")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = false,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add("ulimit -n 4096 && exec setpriv --reuid=nobody --regid=nogroup --clear-groups \"$@\"");
        psi.ArgumentList.Add("sh");
        psi.ArgumentList.Add(command);
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        return Process.Start(psi) ?? throw new InvalidOperationException("cannot start setpriv");
    }

    internal static void Kill(Process process)
    {
        try
        {
            if (!process.HasExited)
            {
                process.Kill();
                process.WaitForExit(5000);
            }
        }
        catch (InvalidOperationException)
        {
        }
    }

    private static async Task WaitUntilAsync(Func<bool> condition, string what, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? Patience);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException("never happened: " + what);
            }
            await Task.Delay(20);
        }
    }
}
