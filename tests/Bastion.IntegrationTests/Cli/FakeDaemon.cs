using System.Diagnostics;

namespace Bastion.IntegrationTests.Cli;

/// <summary>
/// A stand-in for bastiond that bastionctl's reload can signal: a process whose name is <c>bastiond</c>, started from a
/// throwaway directory. The real reload round trip is tested against the real daemon; this one pins bastionctl's side.
/// </summary>
internal sealed class FakeDaemon : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private readonly Process _process;
    private readonly string _binDir;

    private FakeDaemon(Process process, string binDir)
    {
        _process = process;
        _binDir = binDir;
    }

    public int Pid => _process.Id;

    public bool HasExited => _process.HasExited;

    /// <summary>
    /// A shell script named bastiond that runs <paramref name="onHangup"/> on SIGHUP (<c>$1</c> is the runtime directory;
    /// an empty string ignores SIGHUP). Returns once the trap is installed.
    /// </summary>
    public static async Task<FakeDaemon> StartScriptAsync(string runtimeDir, string onHangup)
    {
        if (OperatingSystem.IsWindows())
        {
            throw new PlatformNotSupportedException("bastiond is Linux-only");
        }
        var binDir = Directory.CreateTempSubdirectory("bastionctl-fake-").FullName;
        var script = Path.Combine(binDir, "bastiond");
        await File.WriteAllTextAsync(script,
            $"#!/bin/sh\ntrap '{onHangup}' HUP\necho ready\nwhile :; do sleep 0.1; done\n");
        File.SetUnixFileMode(script, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);

        var startInfo = WithDefaultSighup(script);
        startInfo.RedirectStandardOutput = true;
        startInfo.ArgumentList.Add(runtimeDir);
        var daemon = new FakeDaemon(Process.Start(startInfo) ?? throw new InvalidOperationException("fake bastiond did not start"), binDir);
        using var timeout = new CancellationTokenSource(Timeout);
        var line = await daemon._process.StandardOutput.ReadLineAsync(timeout.Token);
        Assert.Equal("ready", line);
        return daemon;
    }

    /// <summary><c>sleep 60</c> under the name <paramref name="name"/>: SIGHUP's default action ends it.</summary>
    public static FakeDaemon StartSleep(string name)
    {
        var binDir = Directory.CreateTempSubdirectory("bastionctl-fake-").FullName;
        var link = Path.Combine(binDir, name);
        File.CreateSymbolicLink(link, "/bin/sleep");
        var startInfo = WithDefaultSighup(link);
        startInfo.ArgumentList.Add("60");
        var daemon = new FakeDaemon(Process.Start(startInfo) ?? throw new InvalidOperationException($"{name} did not start"), binDir);
        // Process.Start returns after the launcher's exec; the name is the fake's once the launcher exec'd it in turn.
        var deadline = DateTime.UtcNow + Timeout;
        while (File.ReadAllText($"/proc/{daemon.Pid}/comm").Trim() != name[..Math.Min(name.Length, 15)])
        {
            Assert.True(DateTime.UtcNow < deadline, $"{name} did not start");
            Thread.Sleep(10);
        }
        return daemon;
    }

    /// <summary>
    /// Starts <paramref name="path"/> with SIGHUP at its default disposition, whatever the test run inherited: under
    /// <c>nohup</c> it is ignored, and a shell cannot trap a signal ignored on entry (nor does sleep die of it).
    /// </summary>
    private static ProcessStartInfo WithDefaultSighup(string path)
    {
        var startInfo = new ProcessStartInfo("/usr/bin/python3") { UseShellExecute = false };
        startInfo.ArgumentList.Add("-c");
        startInfo.ArgumentList.Add("import os, signal, sys; signal.signal(signal.SIGHUP, signal.SIG_DFL); os.execv(sys.argv[1], sys.argv[1:])");
        startInfo.ArgumentList.Add(path);
        return startInfo;
    }

    /// <summary>True when the process is still running after <paramref name="grace"/> (it was not signalled to death).</summary>
    public bool StillRunningAfter(TimeSpan grace) => !_process.WaitForExit(grace);

    public async Task WaitForExitAsync()
    {
        using var timeout = new CancellationTokenSource(Timeout);
        await _process.WaitForExitAsync(timeout.Token);
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(Timeout);
        }
        _process.Dispose();
        Directory.Delete(_binDir, recursive: true);
    }
}
