using System.Text;

namespace Bastion.Tor;

/// <summary>
/// An onion service's private key as Bastion keeps it (<c>{stateDir}/onion/NAME.key</c>, 0600):
/// <code>
/// # bastion onion service key: keep private; losing it changes the address
/// address: 56chars.onion
/// key: ED25519-V3:base64 (64 bytes: tor's expanded secret key)
/// </code>
/// The address is stored next to the key so that a damaged key is detected (tor would derive a different address from
/// it) instead of silently publishing a new address.
/// </summary>
public sealed record OnionKey(string ServiceId, string Blob)
{
    public const string KeyType = "ED25519-V3";

    /// <summary>The key as ADD_ONION takes it (<c>ED25519-V3:base64</c>). A secret: never log it.</summary>
    public string ForAddOnion => KeyType + ":" + Blob;

    public string Address => OnionAddress.WithSuffix(ServiceId);

    public override string ToString() => $"onion key for {Address}";
}

public sealed class OnionKeyFileException(string message) : Exception(message);

public static class OnionKeyFile
{
    public const int ExpandedKeyLength = 64;

    public static string Format(OnionKey key) =>
        "# bastion onion service key: keep it private; losing it changes the address\n"
        + $"address: {key.Address}\nkey: {key.ForAddOnion}\n";

    /// <summary>Parses the file's text; a damaged file is an <see cref="OnionKeyFileException"/> naming what is wrong.</summary>
    public static OnionKey Parse(string text, string path)
    {
        string? address = null;
        string? key = null;
        var lineNumber = 0;
        foreach (var raw in text.Split('\n'))
        {
            lineNumber++;
            var line = raw.TrimEnd('\r').Trim();
            if (line.Length == 0 || line.StartsWith('#'))
            {
                continue;
            }
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            var name = colon < 0 ? "" : line[..colon].Trim();
            var value = colon < 0 ? "" : line[(colon + 1)..].Trim();
            switch (name)
            {
                case "address" when address is null:
                    address = value;
                    break;
                case "key" when key is null:
                    key = value;
                    break;
                default:
                    throw Corrupt(path, $"line {lineNumber} is neither 'address: …' nor 'key: …'");
            }
        }
        if (address is null || key is null)
        {
            throw Corrupt(path, address is null ? "it has no 'address:' line" : "it has no 'key:' line");
        }
        var serviceId = OnionAddress.WithoutSuffix(address);
        if (!OnionAddress.IsServiceId(serviceId))
        {
            throw Corrupt(path, "its address is not a v3 onion address");
        }
        if (!key.StartsWith(OnionKey.KeyType + ":", StringComparison.Ordinal))
        {
            throw Corrupt(path, $"its key is not an {OnionKey.KeyType} key");
        }
        var blob = key[(OnionKey.KeyType.Length + 1)..];
        // Strict: exactly the 88 characters tor writes for 64 bytes. The decoder would skip whitespace inside (a wrapped
        // backup), and such a key would then fail later, in places that may quote it.
        var bytes = new byte[ExpandedKeyLength + 3];
        if (!IsCanonicalBase64(blob) || !Convert.TryFromBase64String(blob, bytes, out var length) || length != ExpandedKeyLength)
        {
            throw Corrupt(path, $"its key is not {ExpandedKeyLength} bytes of base64 on one line (88 characters A–Z, a–z, 0–9, '+', '/', ending in '==', nothing between them)");
        }
        return new OnionKey(serviceId.ToLowerInvariant(), blob);
    }

    private static bool IsCanonicalBase64(string blob) =>
        blob.Length == 88 && blob.EndsWith("==", StringComparison.Ordinal)
        && blob.AsSpan(0, 86).IndexOfAnyExcept(Base64Alphabet) < 0;

    private static readonly System.Buffers.SearchValues<char> Base64Alphabet =
        System.Buffers.SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/");

    private static OnionKeyFileException Corrupt(string path, string what) => new(
        $"onion key file {path} is damaged ({what}); Bastion will not publish a different address in its place — "
        + "restore the file from a backup to keep the address, or move it away to create a new address (clients must then learn the new one)");

    /// <summary>Validates before writing: the blob tor returned must be what <see cref="Parse"/> accepts.</summary>
    public static byte[] Encode(OnionKey key)
    {
        var text = Format(key);
        _ = Parse(text, "(new key)");
        return Encoding.ASCII.GetBytes(text);
    }
}
