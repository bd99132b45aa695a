using System.Diagnostics;
using System.Globalization;
using Xunit.Abstractions;

namespace Bastion.IntegrationTests.Infrastructure;

/// <summary>
/// A private NATS broker with JetStream (Debian's /usr/sbin/nats-server): loopback only, its own store directory under a
/// temp root, on a free port. Ready when it logs "Server is ready"; the log goes to the test output on dispose; the
/// process is killed by PID. <see cref="KillAsync"/> and <see cref="RestartAsync"/> take the broker away and bring it
/// back on the same port with the same store (a broker crash and recovery). Never the system service.
/// </summary>
internal sealed class NatsServer : IAsyncDisposable
{
    public const string Executable = "/usr/sbin/nats-server";

    private readonly ITestOutputHelper _output;
    private readonly TempRoot _root = new("nats-");
    private Process? _process;
    private string? _configFile;

    private NatsServer(ITestOutputHelper output) => _output = output;

    public int Port { get; private set; }

    /// <summary>The client URL, e.g. nats://127.0.0.1:4222.</summary>
    public string Url => "nats://127.0.0.1:" + Port.ToString(CultureInfo.InvariantCulture);

    /// <summary>Every line of every run of the broker.</summary>
    public ProcessOutput Log { get; } = new();

    public bool IsRunning => _process is { HasExited: false };

    /// <summary>The broker's temp root (for files its <c>config</c> points at, e.g. certificates).</summary>
    public TempRoot Root => _root;

    /// <param name="output">The test's output (the broker's log goes there on dispose).</param>
    /// <param name="config">Optional nats-server config text (e.g. <c>authorization {...}</c>, <c>tls {...}</c>); the address,
    /// port, JetStream and store stay set on the command line.</param>
    /// <param name="maxPayload">The broker's max_payload (default 1 MB); a larger one lets a test play a hostile broker that delivers huge messages.</param>
    public static async Task<NatsServer> StartAsync(ITestOutputHelper output, string? config = null, int? maxPayload = null)
    {
        if (!File.Exists(Executable))
        {
            throw new FileNotFoundException($"{Executable} is missing: run scripts/install-deps.sh (Debian package nats-server)", Executable);
        }
        var server = new NatsServer(output);
        try
        {
            if (maxPayload is { } payload)
            {
                config = $"{config}\nmax_payload: {payload.ToString(CultureInfo.InvariantCulture)}\n";
            }
            if (config is not null)
            {
                server._configFile = server._root.Write("nats-server.conf", config);
            }
            for (var attempt = 1; ; attempt++)
            {
                server.Port = FreePort.Pick();
                if (await server.LaunchAsync())
                {
                    return server;
                }
                if (attempt == 3)
                {
                    throw new InvalidOperationException($"nats-server did not become ready on port {server.Port}:\n{server.Log}");
                }
            }
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    /// <summary>Starts the broker again on the same port and store after <see cref="KillAsync"/>.</summary>
    public async Task RestartAsync()
    {
        if (IsRunning)
        {
            throw new InvalidOperationException("nats-server is still running");
        }
        // The port was ours a moment ago; a hostile local user may take it meanwhile, which fails loudly here.
        for (var attempt = 1; ; attempt++)
        {
            if (await LaunchAsync())
            {
                return;
            }
            if (attempt == 5)
            {
                throw new InvalidOperationException($"nats-server did not come back on port {Port}:\n{Log}");
            }
            await Task.Delay(500);
        }
    }

    /// <returns>Whether it became ready; false (process gone) when the port was taken meanwhile.</returns>
    private async Task<bool> LaunchAsync()
    {
        var psi = new ProcessStartInfo(Executable)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in new[] { "-a", "127.0.0.1", "-p", Port.ToString(CultureInfo.InvariantCulture), "-js", "-sd", _root.File("store") })
        {
            psi.ArgumentList.Add(argument);
        }
        if (_configFile is not null)
        {
            psi.ArgumentList.Add("-c");
            psi.ArgumentList.Add(_configFile);
        }
        var readyBefore = Log.Lines.Count(IsReadyLine);
        _process?.Dispose();
        _process = Process.Start(psi) ?? throw new InvalidOperationException("cannot start nats-server");
        Log.Attach(_process, $"[nats-server:{_process.Id}] ");
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            if (Log.Lines.Count(IsReadyLine) > readyBefore)
            {
                return true;
            }
            if (_process.HasExited)
            {
                break;
            }
            await Task.Delay(50);
        }
        await KillAsync();
        return false;
    }

    private static bool IsReadyLine(string line) => line.EndsWith("Server is ready", StringComparison.Ordinal);

    /// <summary>Kills the broker (SIGKILL, by PID): clients see the connection drop without a goodbye.</summary>
    public async Task KillAsync()
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
