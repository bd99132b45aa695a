using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Bastion.IO;

namespace Bastion.Vnc;

/// <summary>
/// An Xauthority file with one MIT-MAGIC-COOKIE-1 entry, in the format libXau reads (big-endian u16 lengths):
/// family (0xFFFF = FamilyWild, any host), address, display number as text, auth name, auth data.
/// Xvnc gets it with <c>-auth</c> and the session with <c>XAUTHORITY</c>; without it any local process could attach to
/// the emergency desktop's X display.
/// </summary>
/// <remarks>
/// FamilyWild with an empty address: libXau matches it for any host, so the session's clients find it whether they connect
/// over the local socket (FamilyLocal + hostname) or otherwise; <c>xauth -f FILE list</c> shows it as <c>#ffff#:N MIT-MAGIC-COOKIE-1 HEX</c>.
/// </remarks>
public static class XAuthority
{
    public const string AuthName = "MIT-MAGIC-COOKIE-1";
    public const int CookieLength = 16;

    /// <summary>FamilyWild: the entry is valid for any host.</summary>
    public const ushort FamilyWild = 0xFFFF;

    /// <summary>16 random bytes.</summary>
    public static byte[] NewCookie() => RandomNumberGenerator.GetBytes(CookieLength);

    /// <summary>The file content: one FamilyWild entry for display :<paramref name="display"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A negative display number.</exception>
    /// <exception cref="ArgumentException">A cookie that is not 16 bytes.</exception>
    public static byte[] Entry(int display, ReadOnlySpan<byte> cookie)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(display);
        if (cookie.Length != CookieLength)
        {
            throw new ArgumentException($"an {AuthName} cookie is {CookieLength} bytes, not {cookie.Length}", nameof(cookie));
        }
        var number = Encoding.ASCII.GetBytes(display.ToString(CultureInfo.InvariantCulture));
        var name = Encoding.ASCII.GetBytes(AuthName);
        var content = new byte[2 + 2 + 0 + 2 + number.Length + 2 + name.Length + 2 + cookie.Length];
        var span = content.AsSpan();
        BinaryPrimitives.WriteUInt16BigEndian(span, FamilyWild);
        span = span[2..];
        Field(ref span, []); // address: empty (any host)
        Field(ref span, number);
        Field(ref span, name);
        Field(ref span, cookie);
        return content;
    }

    /// <summary>Writes the file atomically with mode 0600.</summary>
    public static void Write(string path, int display, ReadOnlySpan<byte> cookie)
    {
        var content = Entry(display, cookie);
        try
        {
            AtomicFile.Write(path, content, AtomicFile.Private);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(content);
        }
    }

    private static void Field(ref Span<byte> span, ReadOnlySpan<byte> value)
    {
        BinaryPrimitives.WriteUInt16BigEndian(span, (ushort)value.Length);
        value.CopyTo(span[2..]);
        span = span[(2 + value.Length)..];
    }
}
