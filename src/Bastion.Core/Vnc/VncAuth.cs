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
    public static byte[] Response(ReadOnlySpan<byte> challenge, string password) => throw new NotImplementedException();
}
