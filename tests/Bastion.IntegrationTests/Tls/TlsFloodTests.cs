using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Bastion.IntegrationTests.Infrastructure;
using Xunit.Abstractions;

namespace Bastion.IntegrationTests.Tls;

/// <summary>
/// Whoever holds a valid certificate gets in, whatever arrives from the same address meanwhile (everything here comes
/// from 127.0.0.1, the admin's own address: a shared address is the normal case behind NAT, a tunnel or the onion service).
/// The times are printed, not asserted tightly (the machine is shared); BENCHMARKS.md has the measured figures.
/// </summary>
public sealed class TlsFloodTests(ITestOutputHelper output)
{
    /// <summary>Generous: the goal is well under a second on an idle machine; the test machine is loaded.</summary>
    private static readonly TimeSpan AdminBound = TimeSpan.FromSeconds(4);

    [Fact]
    public async Task A_flood_of_idle_sockets_from_the_admins_own_address_does_not_keep_the_admin_out()
    {
        using var pki = new TestPki();
        await using var backend = EchoBackend.Tcp();
        var (daemon, port) = await TlsDaemon.StartListeningAsync(output, TlsConfig.Endpoint(pki, backend.Address));
        await using var _ = daemon;

        using var stop = new CancellationTokenSource();
        var opened = 0;
        var flood = Task.Run(async () =>
        {
            var held = new Queue<Socket>();
            try
            {
                while (!stop.IsCancellationRequested)
                {
                    var s = new Socket(SocketType.Stream, ProtocolType.Tcp);
                    await s.ConnectAsync(IPAddress.Loopback, port, stop.Token);
                    held.Enqueue(s);
                    opened++;
                    // At most ~200 per second: 256 newer silent sockets then take over a second to arrive, which is the
                    // time the admin's client has to send its ClientHello before its own connection is the oldest silent
                    // one (README: the limit of the design). Unthrottled, this loop could out-run the admin's client in
                    // the same loaded test process, which is a race of this test's two tasks, not the daemon.
                    await Task.Delay(5, stop.Token);
                    // Never closed until the end (a close would be logged first, before the evictions this test waits
                    // for); up to well above the per-address budget of silent connections (256), then held.
                    if (held.Count >= 1200)
                    {
                        await Task.Delay(-1, stop.Token);
                    }
                }
            }
            catch (OperationCanceledException)
            {
            }
            finally
            {
                while (held.TryDequeue(out var s))
                {
                    s.Dispose();
                }
            }
        });
        // The admin comes only once the budget is full and the flood is making older idle sockets give way.
        await WaitUntilAsync(() => Volatile.Read(ref opened) >= 600 && daemon.Log.Lines.Any(l => l.Contains("gave way to a newer connection", StringComparison.Ordinal)),
            "600 idle sockets opened and the silent budget full");

        await AdminGetsInAsync(port, pki, 5);
        var run = await OpenSslClient.EchoAsync(port, pki.CaPath, pki.Admin.CertificatePath, pki.Admin.KeyPath); // the outside judge
        Assert.Contains("ping-through-tls", run.Output, StringComparison.Ordinal);
        await stop.CancelAsync();
        await flood.WaitAsync(TimeSpan.FromSeconds(20));
        output.WriteLine($"idle sockets opened during the test: {opened}");

        AssertLogBounded(daemon, opened);
        Assert.DoesNotContain(daemon.Log.Lines, l => l.Contains("presented 10 refused certificates", StringComparison.Ordinal)); // silence is not evidence
    }

    [Fact]
    public async Task A_flood_of_failed_handshakes_from_the_admins_own_address_does_not_keep_the_admin_out_and_is_logged_in_aggregate()
    {
        using var pki = new TestPki();
        using var other = new TestPki("other-ca");
        await using var backend = EchoBackend.Tcp();
        var (daemon, port) = await TlsDaemon.StartListeningAsync(output, TlsConfig.Endpoint(pki, backend.Address));
        await using var _ = daemon;

        using var stop = new CancellationTokenSource();
        var failed = 0;
        async Task Flood(Bastion.Pki.IssueResult? identity)
        {
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    await using var c = await TlsTestClient.ConnectAsync(port, pki.CaPath, identity, stop.Token);
                    await c.RoundTripAsync("x"); // TLS 1.3: the refusal shows after the handshake
                }
                catch (Exception e) when (e is IOException or System.Security.Authentication.AuthenticationException or SocketException or OperationCanceledException)
                {
                }
                Interlocked.Increment(ref failed);
            }
        }
        var floods = new[] { Flood(other.Admin), Flood(other.Admin), Flood(null), Flood(pki.Server) }
            .Select(f => Task.Run(() => f)).ToArray();
        await WaitUntilAsync(() => Volatile.Read(ref failed) >= 100, "100 failed handshakes");

        await AdminGetsInAsync(port, pki, 5);
        var run = await OpenSslClient.EchoAsync(port, pki.CaPath, pki.Admin.CertificatePath, pki.Admin.KeyPath);
        Assert.Contains("ping-through-tls", run.Output, StringComparison.Ordinal);
        await stop.CancelAsync();
        await Task.WhenAll(floods).WaitAsync(TimeSpan.FromSeconds(30));
        output.WriteLine($"failed handshakes during the test: {failed}");

        // Bad certificates are evidence: the address is marked (once), yet the admin above got in every time.
        Assert.Single(daemon.Log.Lines, l => l.Contains("tls/vnc: 127.0.0.1 presented 10 refused certificates in a minute", StringComparison.Ordinal));
        AssertLogBounded(daemon, failed);
        var summary = await daemon.Log.WaitForLineAsync(l => l.Contains("more connections from 127.0.0.1 in the last", StringComparison.Ordinal),
            TimeSpan.FromSeconds(60), "the aggregated refusal line");
        output.WriteLine(summary);
        Assert.Equal(6, backend.Connections); // only the admin's six sessions reached the backend
    }

    private async Task AdminGetsInAsync(int port, TestPki pki, int times)
    {
        for (var i = 0; i < times; i++)
        {
            var watch = Stopwatch.StartNew();
            await using var admin = await TlsTestClient.ConnectAsync(port, pki.CaPath, pki.Admin);
            Assert.Equal("admin " + i, await admin.RoundTripAsync("admin " + i));
            watch.Stop();
            output.WriteLine($"admin session {i}: in and echoed after {watch.Elapsed.TotalMilliseconds:F0} ms (load {File.ReadAllText("/proc/loadavg").Trim()})");
            Assert.True(watch.Elapsed < AdminBound, $"the admin took {watch.Elapsed}");
        }
    }

    /// <summary>A flood is a few lines: some one by one, then aggregated — never a line per connection.</summary>
    private static void AssertLogBounded(BastiondProcess daemon, int connections)
    {
        var refusedLines = daemon.Log.Lines.Count(l => l.Contains("tls/vnc: refused", StringComparison.Ordinal));
        Assert.True(connections > 50, $"the flood was too small to tell ({connections})");
        Assert.True(refusedLines <= 3 * Bastion.Tls.RefusalDigest.Detailed, $"{refusedLines} refusal lines for {connections} connections");
    }

    private static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        var deadline = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(deadline.Elapsed < TimeSpan.FromSeconds(60), "timed out waiting for " + what);
            await Task.Delay(20);
        }
    }
}
