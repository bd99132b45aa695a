using System.Diagnostics;
using Bastion.IntegrationTests.Infrastructure;

namespace Bastion.IntegrationTests.Cli;

/// <summary>What one run of the real bastionctl binary did.</summary>
internal sealed record BastionctlRun(int ExitCode, string Stdout, string Stderr)
{
    public override string ToString() => $"exit {ExitCode}\n--- stdout ---\n{Stdout}\n--- stderr ---\n{Stderr}";
}

/// <summary>Runs the real <c>bastionctl</c> as a process, killed if it outlives the timeout.</summary>
internal static class Bastionctl
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    public static Task<BastionctlRun> RunAsync(params string[] args) => RunAsync(args, workingDirectory: null, environment: null);

    public static async Task<BastionctlRun> RunAsync(
        IEnumerable<string> args, string? workingDirectory, IReadOnlyDictionary<string, string>? environment)
    {
        var startInfo = new ProcessStartInfo(Binaries.Bastionctl)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? Environment.CurrentDirectory,
        };
        foreach (var arg in args)
        {
            startInfo.ArgumentList.Add(arg);
        }

        // Deterministic layout: no terminal width unless a test asks for one.
        startInfo.Environment.Remove("COLUMNS");
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            startInfo.Environment[key] = value;
        }

        using var process = Process.Start(startInfo) ?? throw new InvalidOperationException("bastionctl did not start");
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(Timeout);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"bastionctl {string.Join(' ', args)} did not exit within {Timeout}");
        }
        return new BastionctlRun(process.ExitCode,
            await stdout.WaitAsync(Timeout), await stderr.WaitAsync(Timeout));
    }
}
