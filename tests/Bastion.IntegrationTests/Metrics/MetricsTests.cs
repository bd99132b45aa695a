using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;
using Bastion.IntegrationTests.Infrastructure;
using Bastion.IntegrationTests.Tunnels;
using Xunit.Abstractions;
using static Bastion.IntegrationTests.Tunnels.TunnelYaml;

namespace Bastion.IntegrationTests.Metrics;

/// <summary>bastiond's GET /metrics, scraped by a real Prometheus and checked by promtool.</summary>
public sealed partial class MetricsTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Slow = TimeSpan.FromSeconds(90);

    private static string RulesFile => Path.Combine(Binaries.RepositoryRoot, "config", "bastion.rules.yml");

    [GeneratedRegex(@"for: \d+m")]
    private static partial Regex ForDuration();

    private static string CheckYaml(string name, int port, string? expect = "SSH-2.0-") =>
        $"checks:\n  - name: {name}\n    endpoint: 127.0.0.1:{port}\n{(expect is null ? "" : $"    expect: \"{expect}\"\n")}    interval: 1s\n    timeout: 500ms\n    failures: 1\n";

    [Fact]
    public async Task Prometheus_sees_a_tunnels_bytes_grow_and_the_check_and_tunnel_go_down_and_the_example_alert_fire_when_sshd_is_killed()
    {
        await using var sshd = await Sshd.StartAsync(Path.GetTempPath(), output);
        await using var echo = new EchoServer();
        var key = await sshd.CreateUserKeyAsync();
        // A fixed bind port and a patient probe: on a loaded machine a 500ms probe can time out and restart the tunnel.
        var bindPort = FreePort.Pick();
        await using var daemon = new BastiondProcess(output,
            CheckYaml("sshd", sshd.Port)
            + TunnelsYaml(Item("fwd", "local", sshd, key, $"127.0.0.1:{bindPort}", $"127.0.0.1:{echo.Port}",
                probe: "interval: 3s\n      timeout: 2s\n      failures: 3"))
            + "metrics:\n  listen: 127.0.0.1:0\n");
        await daemon.StartAndWaitReadyAsync();
        var address = await MetricsScrape.AddressAsync(daemon);
        await daemon.WaitForComponentAsync("fwd", "Running");

        // The shipped rules as they are, except that "for: 5m" waits 2s here.
        using var rules = new TempRoot("rules-");
        var rulesFile = rules.Write("bastion.rules.yml", ForDuration().Replace(File.ReadAllText(RulesFile), "for: 2s"));
        await using var prometheus = await PrometheusServer.StartAsync(output, address, rulesFile);

        await prometheus.WaitForAsync("up{job=\"bastion\"}", r => r.Count == 1 && r[0].Value == 1, "bastiond scraped", Slow);
        await prometheus.WaitForAsync("bastion_component_up{kind=\"check\",name=\"sshd\"}", r => r.Count == 1 && r[0].Value == 1, "the check up", Slow);
        await prometheus.WaitForAsync("bastion_component_up{kind=\"tunnel\",name=\"fwd\"}", r => r.Count == 1 && r[0].Value == 1, "the tunnel up", Slow);
        var before = await prometheus.WaitForAsync("bastion_tunnel_bytes_total{name=\"fwd\",direction=\"out\"}", r => r.Count == 1, "the tunnel's byte counter", Slow);
        Assert.DoesNotContain(await prometheus.AlertsAsync(), a => a.Name == "BastionWayInDown");

        const int size = 512 * 1024;
        await daemon.WaitForComponentAsync("fwd", "Running");
        await using (var client = await EchoClient.ConnectAsync(bindPort))
        {
            await client.RoundTripAsync(size);
        }
        await prometheus.WaitForAsync("bastion_tunnel_bytes_total{name=\"fwd\",direction=\"out\"}",
            r => r.Count == 1 && r[0].Value >= before[0].Value + size, $"out bytes grown by {size}", Slow);
        await prometheus.WaitForAsync("bastion_tunnel_bytes_total{name=\"fwd\",direction=\"in\"}",
            r => r.Count == 1 && r[0].Value >= size, $"in bytes at least {size}", Slow);
        await prometheus.WaitForAsync("bastion_tunnel_connections_total{name=\"fwd\"}", r => r.Count == 1 && r[0].Value >= 1, "a connection counted", Slow);
        await prometheus.WaitForAsync("bastion_check_last_success_timestamp_seconds{name=\"sshd\"}",
            r => r.Count == 1 && r[0].Value > DateTimeOffset.UtcNow.AddMinutes(-5).ToUnixTimeSeconds(), "a recent check success", Slow);

        await sshd.KillAsync();

        await prometheus.WaitForAsync("bastion_component_up{kind=\"check\",name=\"sshd\"}", r => r.Count == 1 && r[0].Value == 0, "the check down", Slow);
        await prometheus.WaitForAsync("bastion_component_state{kind=\"check\",name=\"sshd\",state=\"failed\"}", r => r.Count == 1 && r[0].Value == 1, "the check failed", Slow);
        await prometheus.WaitForAsync("bastion_component_up{kind=\"tunnel\",name=\"fwd\"}", r => r.Count == 1 && r[0].Value == 0, "the tunnel down", Slow);
        var deadline = DateTime.UtcNow + Slow;
        List<(string Name, string State, Dictionary<string, string> Labels)> alerts = [];
        while (DateTime.UtcNow < deadline)
        {
            alerts = await prometheus.AlertsAsync();
            if (alerts.Any(a => a.Name == "BastionWayInDown" && a.State == "firing" && a.Labels["kind"] == "check" && a.Labels["name"] == "sshd"))
            {
                break;
            }
            await Task.Delay(500);
        }
        Assert.Contains(alerts, a => a.Name == "BastionWayInDown" && a.State == "firing" && a.Labels["kind"] == "check" && a.Labels["name"] == "sshd");
        // Nothing else of the examples fires: no desktop, no refused reload, bastiond scraped.
        Assert.DoesNotContain(alerts, a => a.Name is "BastionReloadRefused" or "BastionEmergencyDesktopRaised" or "BastionMetricsUnreachable");
    }

    [Fact]
    public async Task The_exposition_on_a_unix_socket_passes_promtool_also_serves_openmetrics_and_shows_a_refused_reload()
    {
        using var target = new TcpListener(System.Net.IPAddress.Loopback, 0);
        target.Start();
        var port = ((System.Net.IPEndPoint)target.LocalEndpoint).Port;
        await using var daemon = new BastiondProcess(output);
        var socketPath = Path.Combine(daemon.RuntimeDir, "metrics.sock");
        var config = CheckYaml("web", port, expect: null) + $"metrics:\n  listen: unix:{socketPath}\n";
        daemon.WriteConfig(config);
        await daemon.StartAndWaitReadyAsync();
        Assert.Equal("unix:" + socketPath, await MetricsScrape.AddressAsync(daemon));
        await daemon.WaitForComponentAsync("web", "Running");

        var (status, headers, body) = await MetricsScrape.GetAsync("unix:" + socketPath);
        Assert.Equal("HTTP/1.1 200 OK", status);
        Assert.Contains("Content-Type: text/plain; version=0.0.4; charset=utf-8", headers, StringComparison.Ordinal);
        Assert.Contains("bastion_component_up{kind=\"check\",name=\"web\"} 1", body, StringComparison.Ordinal);
        Assert.Contains("bastion_config_last_reload_successful 1", body, StringComparison.Ordinal);
        await AssertPromtoolAcceptsAsync(body);

        var (omStatus, omHeaders, omBody) = await MetricsScrape.GetAsync("unix:" + socketPath, accept: "application/openmetrics-text; version=1.0.0");
        Assert.Equal("HTTP/1.1 200 OK", omStatus);
        Assert.Contains("Content-Type: application/openmetrics-text; version=1.0.0; charset=utf-8", omHeaders, StringComparison.Ordinal);
        Assert.EndsWith("# EOF\n", omBody, StringComparison.Ordinal);
        Assert.Contains("# TYPE bastion_component_starts counter", omBody, StringComparison.Ordinal);
        Assert.Contains("bastion_component_starts_total{kind=\"check\",name=\"web\"} 1", omBody, StringComparison.Ordinal);
        // promtool 2.42 checks the text format only; OpenMetrics is what the real Prometheus in the test above negotiates and parses.

        daemon.WriteConfig(config + "  bogus: 1\n");
        daemon.Signal(Posix.SIGHUP);
        await daemon.WaitForStatusAsync(s => s.Daemon.ConfigErrors.Count > 0, "the reload refused");
        var (_, _, afterRefusal) = await MetricsScrape.GetAsync("unix:" + socketPath);
        Assert.Contains("bastion_config_last_reload_successful 0", afterRefusal, StringComparison.Ordinal);
        // The endpoint kept serving through the refused reload, on the same socket.
        Assert.Contains("bastion_component_up{kind=\"check\",name=\"web\"} 1", afterRefusal, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Only_get_metrics_is_served_and_connections_heads_and_idle_time_are_bounded()
    {
        using var target = new TcpListener(System.Net.IPAddress.Loopback, 0);
        target.Start();
        var port = ((System.Net.IPEndPoint)target.LocalEndpoint).Port;
        await using var daemon = new BastiondProcess(output, CheckYaml("web", port, expect: null) + "metrics:\n  listen: 127.0.0.1:0\n");
        await daemon.StartAndWaitReadyAsync();
        var address = await MetricsScrape.AddressAsync(daemon);

        Assert.Equal("HTTP/1.1 404 Not Found", (await MetricsScrape.GetAsync(address, "/")).Status);
        Assert.Equal("HTTP/1.1 404 Not Found", (await MetricsScrape.GetAsync(address, "/status.json")).Status);
        var post = await MetricsScrape.SendAsync(address, "POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
        Assert.StartsWith("HTTP/1.1 405 Method Not Allowed\r\n", post, StringComparison.Ordinal);
        Assert.Contains("Allow: GET\r\n", post, StringComparison.Ordinal);
        Assert.StartsWith("HTTP/1.1 400 Bad Request\r\n", await MetricsScrape.SendAsync(address, "SSH-2.0-OpenSSH_9.2\r\n\r\n"), StringComparison.Ordinal);

        // A head that never ends is cut at the limit, not buffered.
        using (var flood = await MetricsScrape.ConnectAsync(address))
        {
            var junk = Encoding.ASCII.GetBytes("GET /metrics HTTP/1.1\r\nX: " + new string('a', 64 * 1024));
            try
            {
                await flood.SendAsync(junk).WaitAsync(MetricsScrape.Patience);
            }
            catch (SocketException)
            {
                // closed on us mid-send: also a refusal
            }
            var answer = await MetricsScrape.ReadToEndAsync(flood);
            Assert.True(answer.Length == 0 || answer.StartsWith("HTTP/1.1 431 ", StringComparison.Ordinal), answer);
        }

        // Idle connections that never send a request cannot keep a scraper out: with every place held by them, a scrape
        // is still answered (the oldest idle connection gives way), and the idle ones are closed, never piled up.
        var idle = new List<Socket>();
        try
        {
            for (var i = 0; i < 40; i++)
            {
                idle.Add(await MetricsScrape.ConnectAsync(address));
            }
            await Task.Delay(500); // let the endpoint accept them all
            for (var scrape = 0; scrape < 3; scrape++)
            {
                Assert.Equal("HTTP/1.1 200 OK", (await MetricsScrape.GetAsync(address)).Status);
            }
            foreach (var socket in idle.Take(30))
            {
                // Made to give way (or, at the latest, closed by the 5 s deadline): read returns 0 bytes.
                Assert.Equal("", await MetricsScrape.ReadToEndAsync(socket));
            }
        }
        finally
        {
            idle.ForEach(s => s.Dispose());
        }
        Assert.Equal("HTTP/1.1 200 OK", (await MetricsScrape.GetAsync(address)).Status);
        // Nothing about those connections reached the log.
        Assert.DoesNotContain(daemon.Log.Lines, l => l.Contains("metrics:", StringComparison.Ordinal) && !l.Contains("serving GET /metrics", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Promtool_accepts_the_example_rules()
    {
        var result = await ExternalCommand.RunAsync(PrometheusServer.Promtool, ["check", "rules", RulesFile], MetricsScrape.Patience);

        Assert.True(result.ExitCode == 0, result.Describe());
        Assert.Contains("SUCCESS: 5 rules found", result.Output, StringComparison.Ordinal);
    }

    private static async Task AssertPromtoolAcceptsAsync(string exposition)
    {
        using var dir = new TempRoot("exposition-");
        var file = dir.Write("metrics.txt", exposition);
        var result = await ExternalCommand.RunAsync("/bin/sh", ["-c", $"{PrometheusServer.Promtool} check metrics < '{file}'"], MetricsScrape.Patience);

        Assert.True(result.ExitCode == 0 && result.Output.Trim().Length == 0, result.Describe() + "\n" + exposition);
    }
}
