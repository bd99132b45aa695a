using System.Security.Cryptography;

namespace Bastion.IO;

/// <summary>
/// How Bastion writes the files others read (CA key and certificates, CRL, index, VNC password file, X cookie): a temp
/// file in the same directory, created with its final mode before any byte is written, fsync, then rename over the
/// target — a reader (the daemon re-reading the CRL on the next handshake, Xvnc reading its password file at a login)
/// sees the old file or the new one, never half of one, and a secret is never readable by others, not even briefly.
/// </summary>
public static class AtomicFile
{
    public const UnixFileMode Private = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    public const UnixFileMode Public = Private | UnixFileMode.GroupRead | UnixFileMode.OtherRead;
    public const UnixFileMode PrivateDirectory = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    public static void Write(string path, ReadOnlySpan<byte> content, UnixFileMode mode)
    {
        var full = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(full) ?? "/";
        var temp = Path.Combine(dir, $".{Path.GetFileName(full)}.{Environment.ProcessId}.{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8))}.tmp");
        try
        {
            using (var stream = new FileStream(temp, new FileStreamOptions
            {
                Mode = FileMode.CreateNew,
                Access = FileAccess.Write,
                UnixCreateMode = mode,
                BufferSize = 0, // one write of the whole content: no buffer of its own
            }))
            {
                // The umask may have narrowed a public mode. Through the handle, not the path: whatever the name
                // points to by now, only the file this process created is changed.
                File.SetUnixFileMode(stream.SafeFileHandle, mode);
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

    /// <summary>Creates the directory (0700) if missing; an existing one is left as it is.</summary>
    public static void EnsurePrivateDirectory(string dir)
    {
        if (!Directory.Exists(dir))
        {
            Directory.CreateDirectory(dir, PrivateDirectory);
        }
    }
}
