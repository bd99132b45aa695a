using System.Security.Cryptography;

namespace Bastion.Vnc;

/// <summary>
/// Writes a secret file the way every reader expects it: a temp file in the same directory created 0600 before any byte
/// is written, fsync, then rename over the target (a reader sees the old file or the new one, never half of one).
/// </summary>
internal static class PrivateFile
{
    public const UnixFileMode FileMode0600 = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    public const UnixFileMode DirectoryMode0700 = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    /// <summary>Writes <paramref name="content"/> to <paramref name="path"/>; with <paramref name="createDirectory"/> the directory (0700) is created when missing.</summary>
    public static void Write(string path, ReadOnlySpan<byte> content, bool createDirectory)
    {
        var full = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(full) ?? "/";
        if (createDirectory && !Directory.Exists(dir))
        {
            Directory.CreateDirectory(dir, DirectoryMode0700);
        }
        var temp = Path.Combine(dir, $".{Path.GetFileName(full)}.{Environment.ProcessId}.{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8))}.tmp");
        try
        {
            using (var stream = new FileStream(temp, new FileStreamOptions
            {
                Mode = FileMode.CreateNew,
                Access = FileAccess.Write,
                UnixCreateMode = FileMode0600,
            }))
            {
                stream.Write(content);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, full, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp))
            {
                File.Delete(temp);
            }
        }
    }
}
