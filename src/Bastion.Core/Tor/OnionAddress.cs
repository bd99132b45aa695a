namespace Bastion.Tor;

/// <summary>v3 onion addresses: 56 base32 characters (public key, checksum, version 3), ".onion" for humans.</summary>
public static class OnionAddress
{
    public const int ServiceIdLength = 56;

    public static bool IsServiceId(string text) =>
        text.Length == ServiceIdLength && text.All(c => Base32.Alphabet.Contains(char.ToUpperInvariant(c), StringComparison.Ordinal)) && text[^1] == 'd';

    public static string WithoutSuffix(string address) =>
        address.EndsWith(".onion", StringComparison.OrdinalIgnoreCase) ? address[..^6] : address;

    public static string WithSuffix(string serviceId) => WithoutSuffix(serviceId) + ".onion";
}
