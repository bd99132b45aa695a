using System.Diagnostics;
using Bastion.Status;
using Xunit.Abstractions;

namespace Bastion.IntegrationTests.Infrastructure;

/// <summary>
/// The real bastiond binary as a child process: its own temp root (config, state, runtime dir), a
/// <see cref="NotifySocket"/> as NOTIFY_SOCKET, output captured and written to the test output on dispose,
/// killed if still running.
/// </summary>
internal sealed class BastiondProcess : IAsyncDisposable
{
    private readonly ITestOutputHelper _output;
    private Process? _process;

    public BastiondProcess(ITestOutputHelper output, string? configText = null)
    {
        _output = output;
        Root = new TempRoot("bastiond-");
        ConfigPath = Root.File("bastion.yaml");
        RuntimeDir = Root.File("run");
        StateDir = Root.File("state");
        WriteConfig(configText ?? "");
        Notify = new NotifySocket(Root.File("notify.sock"));
    }

    public TempRoot Root { get; }
    public string ConfigPath { get; }
    public string RuntimeDir { get; }
    public string StateDir { get; }
    public NotifySocket Notify { get; }
    public ProcessOutput Log { get; } = new();
    public int Pid => _process?.Id ?? throw new InvalidOperationException("not started");
    public Process Process => _process ?? throw new InvalidOperationException("not started");

    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    /// <summary>Writes the config with the test's private state and runtime dirs prepended.</summary>
    public void WriteConfig(string body) =>
        File.WriteAllText(ConfigPath, $"paths:\n  stateDir: {StateDir}\n  runtimeDir: {RuntimeDir}\n{body}");

    /// <summary>A command that execs bastiond in the same process (e.g. setpriv with restrictions); null = none.</summary>
    public IReadOnlyList<string>? Wrapper { get; set; }

    public void Start(IReadOnlyDictionary<string, string>? environment = null)
    {
        var psi = new ProcessStartInfo(Wrapper is { Count: > 0 } wrapper ? wrapper[0] : Binaries.Bastiond)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (Wrapper is { Count: > 0 } exec)
        {
            foreach (var argument in exec.Skip(1))
            {
                psi.ArgumentList.Add(argument);
            }
            psi.ArgumentList.Add(Binaries.Bastiond);
        }
        psi.ArgumentList.Add("--config");
        psi.ArgumentList.Add(ConfigPath);
        psi.Environment["NOTIFY_SOCKET"] = Notify.Path;
        psi.Environment.Remove("JOURNAL_STREAM");
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            psi.Environment[key] = value;
        }
        _process = Process.Start(psi) ?? throw new InvalidOperationException("cannot start bastiond");
        Log.Attach(_process);
    }

    public async Task StartAndWaitReadyAsync(IReadOnlyDictionary<string, string>? environment = null)
    {
        Start(environment);
        await Notify.WaitForAsync("READY=1", Patience);
    }

    public void Signal(int signal) => Posix.Signal(Pid, signal);

    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        await Process.WaitForExitAsync().WaitAsync(timeout);
        Process.WaitForExit(); // flush redirected output
        return Process.ExitCode;
    }

    public StatusSnapshot ReadStatus()
    {
        var path = Path.Combine(RuntimeDir, StatusSnapshot.FileName);
        return StatusFile.Deserialize(File.ReadAllText(path)) ?? throw new InvalidDataException("empty status file");
    }

    /// <summary>Polls status.json until the condition holds (or fails with the last status and the daemon's log).</summary>
    public async Task<StatusSnapshot> WaitForStatusAsync(Func<StatusSnapshot, bool> condition, string what, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? Patience);
        StatusSnapshot? last = null;
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                last = ReadStatus();
                if (condition(last))
                {
                    return last;
                }
            }
            catch (Exception e) when (e is IOException or System.Text.Json.JsonException or InvalidDataException)
            {
                // not written yet
            }
            await Task.Delay(25);
        }
        throw new TimeoutException($"status never showed: {what}\nlast status: {(last is null ? "(none)" : StatusFile.Serialize(last))}\ndaemon log:\n{Log}");
    }

    /// <summary>Waits until the component named <paramref name="name"/> is in <paramref name="state"/>.</summary>
    public async Task<ComponentStatus> WaitForComponentAsync(string name, string state, TimeSpan? timeout = null)
    {
        var status = await WaitForStatusAsync(
            s => s.Components.Any(c => c.Name == name && c.State == state), $"{name} {state}", timeout);
        return status.Components.Single(c => c.Name == name);
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (_process is { HasExited: false })
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
            }
        }
        finally
        {
            await DumpAndCleanUpAsync();
        }
    }

    private async Task DumpAndCleanUpAsync()
    {
        _output.WriteLine("---- bastiond log ----");
        foreach (var line in Log.Lines)
        {
            _output.WriteLine(line);
        }
        _output.WriteLine("---- notifications ----");
        foreach (var n in Notify.All)
        {
            _output.WriteLine(n.Text.Replace("\n", "\\n", StringComparison.Ordinal));
        }
        _process?.Dispose();
        await Notify.DisposeAsync();
        Root.Dispose();
    }
}
