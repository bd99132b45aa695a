using Bastion.Supervision;
using Bastion.Tor;

namespace Bastion.Daemon.Tor;

/// <summary>Reads and writes an onion service's key file: 0600, written once, atomically; never in a log.</summary>
internal static class OnionKeyStore
{
    private const UnixFileMode Private = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode PrivateDir = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    /// <summary>The stored key, null when there is none yet; a damaged, unreadable or exposed file is a failure with the fix.</summary>
    public static OnionKey? Load(string path)
    {
        if (!File.Exists(path))
        {
            return null;
        }
        var mode = File.GetUnixFileMode(path);
        if ((mode & ~(Private | UnixFileMode.UserExecute)) != 0)
        {
            throw new ComponentFailureException(
                $"onion key file {path} is readable by others (mode {Convert.ToString((int)mode, 8)}); the key may be compromised — if not, chmod 600 {path}");
        }
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ComponentFailureException($"cannot read onion key file {path}: {e.Message}");
        }
        try
        {
            return OnionKeyFile.Parse(text, path);
        }
        catch (OnionKeyFileException e)
        {
            throw new ComponentFailureException(e.Message);
        }
    }

    public static void Save(string path, OnionKey key)
    {
        var dir = Path.GetDirectoryName(path)!;
        Directory.CreateDirectory(dir, PrivateDir);
        File.SetUnixFileMode(dir, PrivateDir);
        var temp = path + ".new";
        File.Delete(temp);
        var bytes = OnionKeyFile.Encode(key);
        // Created 0600 from the first byte (no window in which the key is world-readable), flushed before the rename.
        using (var stream = new FileStream(temp, new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = Private }))
        {
            stream.Write(bytes);
            stream.Flush(flushToDisk: true);
        }
        File.Move(temp, path, overwrite: false);
    }
}
