namespace Bastion.Vnc;

/// <summary>
/// An Xauthority file with one MIT-MAGIC-COOKIE-1 entry, in the format libXau reads (big-endian u16 lengths):
/// family (0xFFFF = FamilyWild, any host), address, display number as text, auth name, auth data.
/// Xvnc gets it with <c>-auth</c> and the session with <c>XAUTHORITY</c>; without it any local process could attach to
/// the emergency desktop's X display.
/// </summary>
public static class XAuthority
{
    public const string AuthName = "MIT-MAGIC-COOKIE-1";
    public const int CookieLength = 16;

    /// <summary>16 random bytes.</summary>
    public static byte[] NewCookie() => throw new NotImplementedException();

    /// <summary>The file content: one FamilyWild entry for display :<paramref name="display"/>.</summary>
    public static byte[] Entry(int display, ReadOnlySpan<byte> cookie) => throw new NotImplementedException();

    /// <summary>Writes the file atomically with mode 0600.</summary>
    public static void Write(string path, int display, ReadOnlySpan<byte> cookie) => throw new NotImplementedException();
}
