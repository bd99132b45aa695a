using System.Security.Cryptography;

namespace Bastion.Vnc;

// CA5351: DES is what the RFB protocol (VNC authentication) and every vncpasswd file use; there is no choice. The
// security of the emergency desktop rests on the mutual TLS in front of it; the VNC password is a second factor.
#pragma warning disable CA5351

/// <summary>Single DES in ECB mode, as VNC authentication and vncpasswd files use it (no padding; whole 8-byte blocks).</summary>
internal static class Des
{
    /// <exception cref="ArgumentException">The key is one of DES's weak or semi-weak keys (.NET refuses them).</exception>
    public static void EncryptEcb(ReadOnlySpan<byte> key, ReadOnlySpan<byte> input, Span<byte> output) =>
        Run(key, input, output, encrypt: true);

    /// <exception cref="ArgumentException">The key is one of DES's weak or semi-weak keys (.NET refuses them).</exception>
    public static void DecryptEcb(ReadOnlySpan<byte> key, ReadOnlySpan<byte> input, Span<byte> output) =>
        Run(key, input, output, encrypt: false);

    /// <summary>One of the 4 weak or 12 semi-weak DES keys (parity bits ignored), which .NET refuses to use.</summary>
    public static bool IsWeak(ReadOnlySpan<byte> key)
    {
        var bytes = key.ToArray();
        try
        {
            return DES.IsWeakKey(bytes) || DES.IsSemiWeakKey(bytes);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(bytes);
        }
    }

    private static void Run(ReadOnlySpan<byte> key, ReadOnlySpan<byte> input, Span<byte> output, bool encrypt)
    {
        var keyBytes = key.ToArray();
        try
        {
            if (IsWeak(keyBytes))
            {
                throw new ArgumentException("the VNC password makes a DES weak key, which cannot be used; choose another password", nameof(key));
            }
            using var des = DES.Create();
            des.Key = keyBytes;
            var written = encrypt
                ? des.EncryptEcb(input, output, PaddingMode.None)
                : des.DecryptEcb(input, output, PaddingMode.None);
            if (written != input.Length)
            {
                throw new CryptographicException($"DES-ECB wrote {written} bytes for {input.Length}");
            }
        }
        finally
        {
            CryptographicOperations.ZeroMemory(keyBytes);
        }
    }
}
