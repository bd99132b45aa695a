using System.Security.Cryptography;
using System.Text;
using Bastion.IO;

namespace Bastion.Vnc;

/// <summary>
/// The password file Xvnc reads (<c>-PasswordFile</c>), as <c>vncpasswd -f</c> writes it: the password (at most 8 bytes,
/// zero-padded) DES-encrypted with the fixed key every VNC implementation uses. That is obfuscation, not protection: the
/// file is a secret and must be private (0600); anyone who can read it knows the password.
/// </summary>
public static class VncPasswordFile
{
    /// <summary>The fixed key of vncpasswd (as VNC's DES code takes it: each byte is bit-reversed before standard DES).</summary>
    private static readonly byte[] FixedKey = [23, 82, 107, 6, 35, 78, 88, 7];

    /// <summary>Generated passwords: letters and digits without look-alikes (no 0/O, 1/l/I).</summary>
    public const string Alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";

    /// <summary>The 8-byte file content for <paramref name="password"/> (1 to 8 printable ASCII characters).</summary>
    /// <exception cref="ArgumentException">Empty, longer than 8 characters, or not printable ASCII.</exception>
    public static byte[] Encode(string password)
    {
        Validate(password);
        Span<byte> plain = stackalloc byte[8];
        plain.Clear();
        Encoding.ASCII.GetBytes(password, plain);
        var content = new byte[8];
        Des.EncryptEcb(Key(), plain, content);
        CryptographicOperations.ZeroMemory(plain);
        return content;
    }

    /// <summary>The password in an 8-byte file content (vncpasswd may write 8 or 16 bytes: a view-only password follows; it is ignored).</summary>
    /// <exception cref="InvalidDataException">Not a vncpasswd file (wrong length), with a message naming the fix.</exception>
    public static string Decode(ReadOnlySpan<byte> content)
    {
        if (content.Length is not (8 or 16))
        {
            throw new InvalidDataException(
                $"not a VNC password file: {content.Length} bytes, vncpasswd writes 8 (or 16 with a view-only password); check that this is the file you meant — a VNC password file is made with: vncpasswd -f > /path/of/a/new/file");
        }
        Span<byte> plain = stackalloc byte[8];
        Des.DecryptEcb(Key(), content[..8], plain);
        var length = plain.IndexOf((byte)0);
        if (length < 0)
        {
            length = plain.Length;
        }
        if (length == 0)
        {
            CryptographicOperations.ZeroMemory(plain);
            throw new InvalidDataException("the VNC password file holds an empty password; create it with vncpasswd -f > FILE");
        }
        var password = Encoding.Latin1.GetString(plain[..length]); // one character per byte: VncAuth.Response gives the same bytes back
        CryptographicOperations.ZeroMemory(plain);
        return password;
    }

    /// <summary>A fresh random 8-character password from an alphabet without look-alikes (no 0/O, 1/l/I).</summary>
    public static string Generate()
    {
        while (true)
        {
            var password = RandomNumberGenerator.GetString(Alphabet, VncAuth.MaxPasswordLength);
            if (!MakesWeakKey(password)) // one password in 57^8 ("xxxxpppp"): never mind the odds, it would not work
            {
                return password;
            }
        }
    }

    /// <summary>Reads and decodes a password file.</summary>
    /// <exception cref="InvalidDataException">Unreadable or not a vncpasswd file; the message names the file and the fix.</exception>
    public static string Read(string path)
    {
        byte[] content;
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            if (stream.Length > 16)
            {
                throw new InvalidDataException(
                    $"{path}: not a VNC password file ({stream.Length} bytes; vncpasswd writes 8 or 16); check that this is the file you meant — a VNC password file is made with: vncpasswd -f > /path/of/a/new/file (never over a file you did not make that way)");
            }
            content = new byte[stream.Length];
            stream.ReadExactly(content);
        }
        catch (FileNotFoundException)
        {
            throw new InvalidDataException($"{path}: no such VNC password file; create it with: vncpasswd -f > {path} (and chmod 600 {path})");
        }
        catch (DirectoryNotFoundException)
        {
            throw new InvalidDataException($"{path}: no such VNC password file (its directory is missing); create it with: vncpasswd -f > {path}");
        }
        catch (UnauthorizedAccessException) when (Directory.Exists(path))
        {
            throw new InvalidDataException($"{path}: a directory, not a VNC password file; create one with: vncpasswd -f > FILE and point vnc.passwordFile at it");
        }
        catch (UnauthorizedAccessException)
        {
            throw new InvalidDataException($"{path}: cannot read the VNC password file (permission denied; it is private to its owner: run this as root)");
        }
        catch (IOException e)
        {
            throw new InvalidDataException($"{path}: cannot read the VNC password file ({e.Message})");
        }
        try
        {
            return Decode(content);
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"{path}: {e.Message.Replace("FILE", path, StringComparison.Ordinal)}");
        }
        finally
        {
            CryptographicOperations.ZeroMemory(content);
        }
    }

    /// <summary>Writes a password file atomically (temp file 0600, then rename), creating its directory (0700) when missing.</summary>
    /// <exception cref="ArgumentException">Not 1 to 8 printable ASCII characters.</exception>
    public static void Write(string path, string password)
    {
        var content = Encode(password);
        AtomicFile.EnsurePrivateDirectory(Path.GetDirectoryName(Path.GetFullPath(path)) ?? "/");
        AtomicFile.Write(path, content, AtomicFile.Private);
    }

    private static void Validate(string password)
    {
        ArgumentNullException.ThrowIfNull(password);
        if (password.Length == 0)
        {
            throw new ArgumentException("a VNC password cannot be empty", nameof(password));
        }
        if (password.Length > VncAuth.MaxPasswordLength)
        {
            throw new ArgumentException(
                $"a VNC password has at most {VncAuth.MaxPasswordLength} characters (VNC authentication uses only the first 8); this one has {password.Length}",
                nameof(password));
        }
        if (password.Any(c => c is < ' ' or > '~'))
        {
            throw new ArgumentException("a VNC password must be printable ASCII (letters, digits, punctuation, space)", nameof(password));
        }
        if (MakesWeakKey(password))
        {
            throw new ArgumentException("this VNC password makes a DES weak key, which cannot be used; choose another one", nameof(password));
        }
    }

    /// <summary>Whether VNC authentication with this password would need a DES weak or semi-weak key.</summary>
    internal static bool MakesWeakKey(string password)
    {
        Span<byte> key = stackalloc byte[8];
        VncAuth.KeyOf(password, key);
        for (var i = 0; i < key.Length; i++)
        {
            key[i] = VncAuth.ReverseBits(key[i]);
        }
        var weak = Des.IsWeak(key);
        CryptographicOperations.ZeroMemory(key);
        return weak;
    }

    private static byte[] Key()
    {
        var key = new byte[FixedKey.Length];
        for (var i = 0; i < key.Length; i++)
        {
            key[i] = VncAuth.ReverseBits(FixedKey[i]);
        }
        return key;
    }
}
