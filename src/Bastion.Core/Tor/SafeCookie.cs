using System.Security.Cryptography;
using System.Text;

namespace Bastion.Tor;

/// <summary>
/// SAFECOOKIE authentication (control-spec 3.24): both sides prove they know the cookie without sending it, so a
/// process that merely listens on the control port's address learns nothing it could replay.
/// </summary>
public static class SafeCookie
{
    public const int CookieLength = 32;
    public const int NonceLength = 32;

    private static readonly byte[] ServerKey = Encoding.ASCII.GetBytes("Tor safe cookie authentication server-to-controller hash");
    private static readonly byte[] ClientKey = Encoding.ASCII.GetBytes("Tor safe cookie authentication controller-to-server hash");

    public static byte[] NewClientNonce() => RandomNumberGenerator.GetBytes(NonceLength);

    public static byte[] ServerHash(ReadOnlySpan<byte> cookie, ReadOnlySpan<byte> clientNonce, ReadOnlySpan<byte> serverNonce) =>
        HMACSHA256.HashData(ServerKey, Concat(cookie, clientNonce, serverNonce));

    public static byte[] ClientHash(ReadOnlySpan<byte> cookie, ReadOnlySpan<byte> clientNonce, ReadOnlySpan<byte> serverNonce) =>
        HMACSHA256.HashData(ClientKey, Concat(cookie, clientNonce, serverNonce));

    /// <summary>Checks tor's SERVERHASH in constant time: a mismatch means the control port is not the tor that wrote the cookie.</summary>
    public static bool ServerHashMatches(ReadOnlySpan<byte> cookie, ReadOnlySpan<byte> clientNonce, ReadOnlySpan<byte> serverNonce, ReadOnlySpan<byte> serverHash) =>
        CryptographicOperations.FixedTimeEquals(ServerHash(cookie, clientNonce, serverNonce), serverHash);

    private static byte[] Concat(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b, ReadOnlySpan<byte> c)
    {
        var all = new byte[a.Length + b.Length + c.Length];
        a.CopyTo(all);
        b.CopyTo(all.AsSpan(a.Length));
        c.CopyTo(all.AsSpan(a.Length + b.Length));
        return all;
    }
}
