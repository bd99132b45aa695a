using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Xunit.Abstractions;

namespace Bastion.IntegrationTests.Infrastructure;

/// <summary>
/// A private Prometheus (Debian's /usr/bin/prometheus): its own config and data dir under a temp root, on a free loopback
/// port, scraping one target every second and evaluating rules every second. Readiness is its /-/ready answering 200;
/// the log is written to the test output on dispose; the process is killed by PID. Never the system service.
/// </summary>
internal sealed class PrometheusServer : IAsyncDisposable
{
    public const string Executable = "/usr/bin/prometheus";
    public const string Promtool = "/usr/bin/promtool";
    public const string Job = "bastion";

    private readonly ITestOutputHelper _output;
    private readonly TempRoot _root = new("prometheus-");
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(10) };
    private Process? _process;

    private PrometheusServer(ITestOutputHelper output) => _output = output;

    public int Port { get; private set; }
    public ProcessOutput Log { get; } = new();

    /// <summary>Starts Prometheus scraping <paramref name="target"/> (host:port) with the given rule files; retries a port taken meanwhile.</summary>
    public static async Task<PrometheusServer> StartAsync(ITestOutputHelper output, string target, params string[] ruleFiles)
    {
        if (!File.Exists(Executable))
        {
            throw new FileNotFoundException($"{Executable} is missing: run scripts/install-deps.sh (Debian package prometheus)", Executable);
        }
        var server = new PrometheusServer(output);
        try
        {
            await server.StartAsync(target, ruleFiles);
            return server;
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    private async Task StartAsync(string target, string[] ruleFiles)
    {
        var config = _root.Write("prometheus.yml", $"""
            global:
              scrape_interval: 1s
              scrape_timeout: 900ms
              evaluation_interval: 1s
            rule_files: [{string.Join(", ", ruleFiles.Select(f => "'" + f + "'"))}]
            scrape_configs:
              - job_name: {Job}
                static_configs:
                  - targets: ['{target}']
            """);
        for (var attempt = 1; ; attempt++)
        {
            Port = FreePort.Pick();
            var psi = new ProcessStartInfo(Executable)
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            foreach (var argument in new[]
            {
                "--config.file=" + config,
                "--storage.tsdb.path=" + _root.File("data"),
                "--web.listen-address=127.0.0.1:" + Port.ToString(CultureInfo.InvariantCulture),
                "--log.level=info",
            })
            {
                psi.ArgumentList.Add(argument);
            }
            _process = Process.Start(psi) ?? throw new InvalidOperationException("cannot start prometheus");
            Log.Attach(_process, $"[prometheus:{_process.Id}] ");
            if (await WaitReadyAsync(TimeSpan.FromSeconds(90)))
            {
                return;
            }
            var inUse = Log.Lines.Any(l => l.Contains("address already in use", StringComparison.Ordinal));
            await KillAsync();
            if (!inUse || attempt == 3)
            {
                throw new InvalidOperationException($"prometheus did not become ready on port {Port}:\n{Log}");
            }
        }
    }

    private async Task<bool> WaitReadyAsync(TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline && _process is { HasExited: false })
        {
            try
            {
                using var response = await _http.GetAsync(new Uri($"http://127.0.0.1:{Port}/-/ready"));
                if (response.IsSuccessStatusCode)
                {
                    return true;
                }
            }
            catch (HttpRequestException)
            {
                // not listening yet
            }
            catch (TaskCanceledException)
            {
                // slow machine
            }
            await Task.Delay(200);
        }
        return false;
    }

    /// <summary>Runs an instant query; returns each series' labels and value.</summary>
    public async Task<List<(Dictionary<string, string> Labels, double Value)>> QueryAsync(string promql)
    {
        var json = await _http.GetStringAsync(new Uri($"http://127.0.0.1:{Port}/api/v1/query?query={Uri.EscapeDataString(promql)}"));
        using var doc = JsonDocument.Parse(json);
        var result = new List<(Dictionary<string, string>, double)>();
        foreach (var item in doc.RootElement.GetProperty("data").GetProperty("result").EnumerateArray())
        {
            var labels = item.GetProperty("metric").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString() ?? "");
            var value = double.Parse(item.GetProperty("value")[1].GetString()!, CultureInfo.InvariantCulture);
            result.Add((labels, value));
        }
        return result;
    }

    /// <summary>Active alerts: name, state (pending, firing) and labels.</summary>
    public async Task<List<(string Name, string State, Dictionary<string, string> Labels)>> AlertsAsync()
    {
        var json = await _http.GetStringAsync(new Uri($"http://127.0.0.1:{Port}/api/v1/alerts"));
        using var doc = JsonDocument.Parse(json);
        return [.. doc.RootElement.GetProperty("data").GetProperty("alerts").EnumerateArray().Select(a =>
        {
            var labels = a.GetProperty("labels").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString() ?? "");
            return (labels["alertname"], a.GetProperty("state").GetString() ?? "", labels);
        })];
    }

    /// <summary>Polls a query until <paramref name="condition"/> holds on its result; fails with the last result and the log.</summary>
    public async Task<List<(Dictionary<string, string> Labels, double Value)>> WaitForAsync(
        string promql, Func<List<(Dictionary<string, string> Labels, double Value)>, bool> condition, string what, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        List<(Dictionary<string, string> Labels, double Value)> last = [];
        while (DateTime.UtcNow < deadline)
        {
            last = await QueryAsync(promql);
            if (condition(last))
            {
                return last;
            }
            await Task.Delay(500);
        }
        throw new TimeoutException($"prometheus never showed {what} for `{promql}`; last result: "
            + string.Join("; ", last.Select(r => "{" + string.Join(",", r.Labels.Select(l => l.Key + "=" + l.Value)) + "} " + r.Value))
            + $"\nprometheus log:\n{Log}");
    }

    private async Task KillAsync()
    {
        if (_process is { HasExited: false } p)
        {
            p.Kill(entireProcessTree: true);
            await p.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(20));
        }
    }

    public async ValueTask DisposeAsync()
    {
        await KillAsync();
        _process?.Dispose();
        _http.Dispose();
        try
        {
            _output.WriteLine(Log.ToString());
        }
        catch (InvalidOperationException)
        {
            // no test running any more
        }
        _root.Dispose();
    }
}
