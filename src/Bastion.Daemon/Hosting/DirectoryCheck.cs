using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Bastion.IO;

namespace Bastion.Daemon.Hosting;

/// <summary>stat(2) for <see cref="DirectoryTrust"/>: who owns a directory and its mode.</summary>
internal static partial class DirectoryCheck
{
    private const int Enoent = 2;
    private const int AtFdCwd = -100;
    private const uint StatxBasicStats = 0x7ff;
    private const int StatxSize = 256;

    /// <summary>The effective uid of this process: the user the directories must belong to.</summary>
    public static uint EffectiveUid => geteuid();

    /// <summary>Checks <paramref name="dir"/>, following symlinks (what matters is the directory written into).</summary>
    public static (DirectoryProblem Problem, PathOwnership? Ownership, string? Error) Check(string dir, uint expectedUid)
    {
        var buffer = new byte[StatxSize];
        if (statx(AtFdCwd, dir, 0, StatxBasicStats, ref buffer[0]) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            return (errno == Enoent ? DirectoryProblem.Missing : DirectoryProblem.Unreadable, null, Marshal.GetPInvokeErrorMessage(errno));
        }
        // struct statx has the same layout on every architecture (unlike struct stat): stx_uid at 20, stx_mode at 28.
        var uid = BinaryPrimitives.ReadUInt32LittleEndian(buffer.AsSpan(20));
        var mode = BinaryPrimitives.ReadUInt16LittleEndian(buffer.AsSpan(28));
        const int typeMask = 0xF000, directory = 0x4000;
        var ownership = new PathOwnership(uid, (UnixFileMode)(mode & 0xFFF), (mode & typeMask) == directory);
        return (DirectoryTrust.Evaluate(ownership, expectedUid), ownership, null);
    }

    [LibraryImport("libc", EntryPoint = "geteuid")]
    private static partial uint geteuid();

    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int statx(int dirfd, string path, int flags, uint mask, ref byte buffer);
}
