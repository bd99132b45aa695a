using System.Diagnostics;
using System.Text;

namespace Bastion.IntegrationTests.Infrastructure;

/// <summary>What a finished (or timed-out) external command did.</summary>
internal sealed record CommandResult(string CommandLine, int ExitCode, bool TimedOut, string StdOut, string StdErr, string Output)
{
    /// <summary>For assertion messages: the command, how it ended and everything it printed (interleaved).</summary>
    public string Describe() =>
        $"$ {CommandLine}\n{(TimedOut ? "TIMED OUT (killed)" : $"exit code {ExitCode}")}\n----- output -----\n{Output}\n------------------";
}

/// <summary>
/// Runs a script or tool to completion with a hard timeout; on timeout the whole process tree is killed,
/// so a hung child never outlives the test.
/// </summary>
internal static class ExternalCommand
{
    public static async Task<CommandResult> RunAsync(
        string fileName,
        IEnumerable<string> arguments,
        TimeSpan timeout,
        IReadOnlyDictionary<string, string>? environment = null,
        string? workingDirectory = null)
    {
        var psi = new ProcessStartInfo(fileName)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? Environment.CurrentDirectory,
        };
        foreach (var argument in arguments)
        {
            psi.ArgumentList.Add(argument);
        }
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            psi.Environment[key] = value;
        }
        var commandLine = string.Join(' ', new[] { fileName }.Concat(psi.ArgumentList));

        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        var output = new StringBuilder();
        var gate = new object();
        void Append(StringBuilder own, string? line)
        {
            if (line is null)
            {
                return;
            }
            lock (gate)
            {
                own.AppendLine(line);
                output.AppendLine(line);
            }
        }

        using var process = new Process { StartInfo = psi };
        process.OutputDataReceived += (_, e) => Append(stdout, e.Data);
        process.ErrorDataReceived += (_, e) => Append(stderr, e.Data);
        process.Start();
        process.StandardInput.Close();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        var timedOut = false;
        using (var cts = new CancellationTokenSource(timeout))
        {
            try
            {
                await process.WaitForExitAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
                timedOut = true;
                process.Kill(entireProcessTree: true);
            }
        }
        // Drains the output readers (bounded: the process is gone).
        using (var drain = new CancellationTokenSource(TimeSpan.FromSeconds(10)))
        {
            try
            {
                await process.WaitForExitAsync(drain.Token);
            }
            catch (OperationCanceledException)
            {
                timedOut = true;
            }
        }

        lock (gate)
        {
            return new CommandResult(
                commandLine,
                process.HasExited ? process.ExitCode : -1,
                timedOut,
                stdout.ToString(),
                stderr.ToString(),
                output.ToString());
        }
    }
}
