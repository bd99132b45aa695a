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
        // Deterministic layout: no terminal width unless a test asks for one.
        var env = new Dictionary<string, string>(environment ?? new Dictionary<string, string>());
        env.TryAdd("COLUMNS", "");
        var result = await ExternalCommand.RunAsync(Binaries.Bastionctl, args, Timeout, env, workingDirectory);
        if (result.TimedOut)
        {
            throw new TimeoutException($"bastionctl {string.Join(' ', args)} did not exit within {Timeout}\n{result.Describe()}");
        }
        return new BastionctlRun(result.ExitCode, result.StdOut, result.StdErr);
    }
}
