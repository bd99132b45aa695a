using System.Runtime.InteropServices;
using Bastion.Tor;

namespace Bastion.Daemon.Tor;

/// <summary>
/// Reads tor's control cookie without trusting the path: it is opened with O_NOFOLLOW|O_NONBLOCK (a symlink or a FIFO
/// cannot redirect or stall the read), must be a regular file of exactly 32 bytes owned by root, the tor user or
/// bastiond's own user, and at most 32 bytes are read. Anything else is refused with a reason that names the path and
/// the rule, never the file's content or size beyond "not 32 bytes".
/// </summary>
internal static partial class TorCookieFile
{
    private const int ORdOnly = 0;
    private const int ONonBlock = 0x800;
    private const int ONoFollow = 0x20000;
    private const int OCloExec = 0x80000;
    private const int AtEmptyPath = 0x1000;
    private const uint StatxBasicStats = 0x7ff;
    private const int StatxSize = 256;
    private const ushort TypeMask = 0xF000;
    private const ushort RegularFile = 0x8000;
    private const int Eloop = 40;
    private const int Eintr = 4;

    /// <summary>The users a tor runs as on the distributions Bastion targets.</summary>
    private static readonly string[] TorUsers = ["debian-tor", "_tor", "tor", "toranon"];

    public static byte[] Read(string path)
    {
        var fd = Open(path, ORdOnly | ONonBlock | ONoFollow | OCloExec);
        if (fd < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw new TorProtocolException(errno == Eloop
                ? $"tor's control cookie {path} is a symbolic link; Bastion reads only a regular file there (set onion.tor.cookieFile to the file itself)"
                : $"cannot read tor's control cookie {path}: {Marshal.GetPInvokeErrorMessage(errno)} (bastiond must be able to read it, e.g. be in the debian-tor group; onion.tor.cookieFile names it)");
        }
        try
        {
            var stat = new byte[StatxSize];
            if (Statx(fd, "", AtEmptyPath, StatxBasicStats, stat) != 0)
            {
                throw new TorProtocolException($"cannot inspect tor's control cookie {path}: {Marshal.GetLastPInvokeErrorMessage()}");
            }
            var uid = BitConverter.ToUInt32(stat, 20);
            var mode = BitConverter.ToUInt16(stat, 28);
            var size = BitConverter.ToUInt64(stat, 40);
            if ((mode & TypeMask) != RegularFile)
            {
                throw new TorProtocolException($"tor's control cookie {path} is not a regular file; refusing to read it");
            }
            if (size != SafeCookie.CookieLength)
            {
                throw new TorProtocolException($"tor's control cookie {path} is not {SafeCookie.CookieLength} bytes long; refusing to read it");
            }
            if (!IsTrustedOwner(uid))
            {
                throw new TorProtocolException(
                    $"tor's control cookie {path} is owned by uid {uid}, not by root, a tor user ({string.Join(", ", TorUsers)}) or bastiond's user; refusing to use it");
            }
            var cookie = new byte[SafeCookie.CookieLength];
            var filled = 0;
            while (filled < cookie.Length)
            {
                var n = ReadBytes(fd, ref cookie[filled], cookie.Length - filled);
                if (n < 0 && Marshal.GetLastPInvokeError() == Eintr)
                {
                    continue;
                }
                if (n <= 0)
                {
                    throw new TorProtocolException($"tor's control cookie {path} could not be read in full");
                }
                filled += (int)n;
            }
            return cookie;
        }
        finally
        {
            _ = Close(fd);
        }
    }

    private static bool IsTrustedOwner(uint uid)
    {
        if (uid == 0 || uid == GetEuid())
        {
            return true;
        }
        foreach (var name in TorUsers)
        {
            var pw = GetPwNam(name);
            // struct passwd { char *pw_name; char *pw_passwd; uid_t pw_uid; … } on 64-bit Linux.
            if (pw != IntPtr.Zero && (uint)Marshal.ReadInt32(pw, 2 * IntPtr.Size) == uid)
            {
                return true;
            }
        }
        return false;
    }

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Statx(int dirfd, string path, int flags, uint mask, [Out] byte[] statx);

    [LibraryImport("libc", EntryPoint = "read", SetLastError = true)]
    private static partial nint ReadBytes(int fd, ref byte buffer, nint count);

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int Close(int fd);

    [LibraryImport("libc", EntryPoint = "geteuid")]
    private static partial uint GetEuid();

    [LibraryImport("libc", EntryPoint = "getpwnam", StringMarshalling = StringMarshalling.Utf8)]
    private static partial IntPtr GetPwNam(string name);
}
