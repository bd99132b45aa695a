using System.Security.Cryptography;
using System.Text;

namespace Bastion.Vnc;

/// <summary>
/// RFB "VNC authentication" (security type 2): the server sends a 16-byte challenge, the client answers with the challenge
/// encrypted by single DES in ECB mode, keyed with the password's first 8 bytes (zero-padded), each key byte bit-reversed.
/// Only the first 8 characters of a VNC password count (a protocol limit); callers say so to admins.
/// </summary>
public static class VncAuth
{
    public const int SecurityType = 2;
    public const int ChallengeLength = 16;
    public const int MaxPasswordLength = 8;

    /// <summary>The 16-byte answer to <paramref name="challenge"/>.</summary>
    /// <remarks>
    /// The password's bytes are its Latin-1 bytes (what <see cref="VncPasswordFile.Decode"/> returns maps each file byte to
    /// one character), or its UTF-8 bytes when it has a character beyond Latin-1 (what a UTF-8 viewer sends).
    /// </remarks>
    /// <exception cref="ArgumentException">
    /// The challenge is not 16 bytes, the password is empty, or it makes one of DES's weak keys (of printable ASCII passwords
    /// only "xxxxpppp"), which .NET refuses to use. The message never contains the password.
    /// </exception>
    public static byte[] Response(ReadOnlySpan<byte> challenge, string password)
    {
        ArgumentNullException.ThrowIfNull(password);
        if (password.Length == 0)
        {
            throw new ArgumentException("the VNC password is empty (VNC authentication needs one)", nameof(password));
        }
        if (challenge.Length != ChallengeLength)
        {
            throw new ArgumentException($"a VNC authentication challenge is {ChallengeLength} bytes, not {challenge.Length}", nameof(challenge));
        }
        Span<byte> key = stackalloc byte[8];
        KeyOf(password, key);
        for (var i = 0; i < key.Length; i++)
        {
            key[i] = ReverseBits(key[i]);
        }
        var response = new byte[ChallengeLength];
        Des.EncryptEcb(key, challenge, response);
        CryptographicOperations.ZeroMemory(key);
        return response;
    }

    /// <summary>The password's first 8 bytes, zero-padded (the key before bit reversal).</summary>
    internal static void KeyOf(string password, Span<byte> key)
    {
        key.Clear();
        var encoding = password.Any(c => c > '\u00ff') ? Encoding.UTF8 : Encoding.Latin1;
        var bytes = encoding.GetBytes(password);
        bytes.AsSpan(0, Math.Min(bytes.Length, key.Length)).CopyTo(key);
        CryptographicOperations.ZeroMemory(bytes);
    }

    /// <summary>Bit 0 becomes bit 7 and so on: VNC's DES code numbers key bits from the other end.</summary>
    internal static byte ReverseBits(byte b)
    {
        b = (byte)(((b & 0xF0) >> 4) | ((b & 0x0F) << 4));
        b = (byte)(((b & 0xCC) >> 2) | ((b & 0x33) << 2));
        return (byte)(((b & 0xAA) >> 1) | ((b & 0x55) << 1));
    }
}
