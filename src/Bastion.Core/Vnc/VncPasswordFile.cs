namespace Bastion.Vnc;

/// <summary>
/// The password file Xvnc reads (<c>-PasswordFile</c>), as <c>vncpasswd -f</c> writes it: the password (at most 8 bytes,
/// zero-padded) DES-encrypted with the fixed key every VNC implementation uses. That is obfuscation, not protection: the
/// file is a secret and must be private (0600); anyone who can read it knows the password.
/// </summary>
public static class VncPasswordFile
{
    /// <summary>The 8-byte file content for <paramref name="password"/> (1 to 8 printable ASCII characters).</summary>
    public static byte[] Encode(string password) => throw new NotImplementedException();

    /// <summary>The password in an 8-byte file content (vncpasswd may write 8 or 16 bytes: a view-only password follows; it is ignored).</summary>
    /// <exception cref="InvalidDataException">Not a vncpasswd file (wrong length), with a message naming the fix.</exception>
    public static string Decode(ReadOnlySpan<byte> content) => throw new NotImplementedException();

    /// <summary>A fresh random 8-character password from an alphabet without look-alikes (no 0/O, 1/l/I).</summary>
    public static string Generate() => throw new NotImplementedException();

    /// <summary>Reads and decodes a password file.</summary>
    /// <exception cref="InvalidDataException">Unreadable or not a vncpasswd file; the message names the file and the fix.</exception>
    public static string Read(string path) => throw new NotImplementedException();

    /// <summary>Writes a password file atomically (temp file 0600, then rename), creating its directory (0700) when missing.</summary>
    public static void Write(string path, string password) => throw new NotImplementedException();
}
