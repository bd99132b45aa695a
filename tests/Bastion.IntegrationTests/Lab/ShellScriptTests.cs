using Bastion.IntegrationTests.Infrastructure;

namespace Bastion.IntegrationTests.Lab;

/// <summary>The scripts run on someone's worst day and in CI with no stdin: they must at least lint clean.</summary>
public sealed class ShellScriptTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(2);

    [Fact]
    public async Task Every_shell_script_passes_shellcheck()
    {
        var root = Binaries.RepositoryRoot;
        var scripts = Directory.EnumerateFiles(Path.Combine(root, "scripts"), "*.sh", SearchOption.AllDirectories)
            .Append(Path.Combine(root, ".ci", "run"))
            .Select(path => Path.GetRelativePath(root, path))
            .Order(StringComparer.Ordinal)
            .ToList();
        Assert.NotEmpty(scripts);

        // -x -P SCRIPTDIR: follow `source` of scripts/lib/*.sh relative to each script, as bash does.
        var result = await ExternalCommand.RunAsync(
            "shellcheck", ["--external-sources", "--source-path=SCRIPTDIR", "--format=gcc", .. scripts], Timeout, workingDirectory: root);

        Assert.True(result.ExitCode == 0, result.Describe());
    }
}
