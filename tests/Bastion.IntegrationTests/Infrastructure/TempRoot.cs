namespace Bastion.IntegrationTests.Infrastructure;

/// <summary>A private temp directory per test (0700), removed on dispose.</summary>
internal sealed class TempRoot : IDisposable
{
    public TempRoot(string prefix = "bastion-test-")
    {
        Path = Directory.CreateTempSubdirectory(prefix).FullName;
        System.IO.File.SetUnixFileMode(Path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public string Write(string name, string content)
    {
        var path = File(name);
        System.IO.File.WriteAllText(path, content);
        return path;
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // A process we started may still be writing; the OS temp cleaner gets it.
        }
    }
}
