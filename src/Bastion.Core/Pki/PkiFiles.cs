using System.Text;

namespace Bastion.Pki;

/// <summary>
/// How the CA writes files: to a temp file in the same directory, fsync, then rename over the target, so a reader
/// (the daemon re-reading the CRL on the next handshake) sees either the old or the new file, never half of one.
/// Private keys are created 0600 before any byte is written.
/// </summary>
public static class PkiFiles
{
    private const UnixFileMode Private = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode Public = Private | UnixFileMode.GroupRead | UnixFileMode.OtherRead;

    public static void WritePublic(string path, string text) => Write(path, text, Public);

    public static void WritePrivate(string path, string text) => Write(path, text, Private);

    private static void Write(string path, string text, UnixFileMode mode)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(path)) ?? "/";
        var temp = Path.Combine(dir, $".{Path.GetFileName(path)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(temp, new FileStreamOptions
            {
                Mode = FileMode.CreateNew,
                Access = FileAccess.Write,
                UnixCreateMode = mode,
            }))
            {
                stream.Write(Encoding.ASCII.GetBytes(text));
                stream.Flush(flushToDisk: true);
            }
            File.SetUnixFileMode(temp, mode); // the umask may have narrowed the public mode
            File.Move(temp, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp))
            {
                File.Delete(temp);
            }
        }
    }

    /// <summary>Creates the directory (0700) if missing.</summary>
    public static void EnsurePrivateDirectory(string dir)
    {
        if (!Directory.Exists(dir))
        {
            Directory.CreateDirectory(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
    }
}
