using System.Reflection;

namespace Bastion.IntegrationTests.Infrastructure;

/// <summary>
/// Where the binaries under test are. <c>BASTION_BIN_DIR</c> (set by scripts/test.sh to the published
/// artifacts/bin) wins; otherwise the build output of the projects this test project references.
/// A missing binary fails the test loudly: it is never skipped.
/// </summary>
internal static class Binaries
{
    public static string RepositoryRoot { get; } = Metadata("RepositoryRoot");

    public static string Bastiond => Find("bastiond", "Bastion.Daemon");

    public static string Bastionctl => Find("bastionctl", "Bastion.Cli");

    private static string Find(string name, string project)
    {
        var dir = Environment.GetEnvironmentVariable("BASTION_BIN_DIR");
        if (string.IsNullOrEmpty(dir))
        {
            dir = Path.Combine(RepositoryRoot, "src", project, "bin", Metadata("BuildConfiguration"), "net10.0");
        }
        var path = Path.Combine(dir, name);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException(
                $"{name} not found at {path}: build the solution (scripts/build.sh) or set BASTION_BIN_DIR", path);
        }
        return path;
    }

    private static string Metadata(string key) =>
        typeof(Binaries).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == key).Value
        ?? throw new InvalidOperationException($"assembly metadata {key} missing");
}
