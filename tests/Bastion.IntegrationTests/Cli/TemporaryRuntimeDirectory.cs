using Bastion.Status;

namespace Bastion.IntegrationTests.Cli;

/// <summary>A throwaway runtime directory; status.json is written the way the daemon writes it (atomically).</summary>
internal sealed class TemporaryRuntimeDirectory : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("bastionctl-test-").FullName;

    public string StatusFile => System.IO.Path.Combine(Path, StatusSnapshot.FileName);

    public void Write(StatusSnapshot snapshot) => Bastion.Status.StatusFile.WriteAtomically(StatusFile, snapshot);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // A child process may still hold a file for a moment; it is a temp directory.
        }
    }
}
