using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Win32.SafeHandles;

namespace Bastion.Tls;

/// <summary>
/// Limits TLS 1.3 key exchange to X25519, P-256 and P-384 in this process (no finite-field DH, no X448 or P-521).
/// <para>
/// .NET has no API for the key-exchange groups (cipher suites, yes: <see cref="TlsPolicy.CipherSuites"/>), and on Linux
/// OpenSSL's defaults accept ffdhe2048–8192, X448 and P-521 in TLS 1.3. OpenSSL takes them from its configuration
/// (<c>ssl_conf</c> → <c>system_default</c> → <c>Groups</c>), which it reads once, when .NET first initialises it. So, before
/// any other cryptography, <see cref="Apply"/> hands OpenSSL a configuration of its own: an anonymous in-memory file
/// (memfd, close-on-exec: nothing on disk, nothing a child inherits) named by <c>OPENSSL_CONF</c> just for that first
/// initialisation; the variable is then put back as it was, so tor, Xvnc and the desktop session see the environment they
/// would have seen. This configuration replaces the system's openssl.cnf for this process (Bastion's TLS policy is
/// explicit and stricter than any system default).
/// </para>
/// </summary>
public static partial class TlsKeyExchange
{
    /// <summary>The groups allowed, in OpenSSL's names, in order of preference.</summary>
    public const string Groups = "X25519:P-256:P-384";

    private const uint MfdCloexec = 1;

    /// <summary>The OpenSSL configuration that sets <see cref="Groups"/> for every TLS context of the process.</summary>
    public static string OpenSslConfig { get; } = $"""
        openssl_conf = bastion_init
        [bastion_init]
        ssl_conf = bastion_ssl
        [bastion_ssl]
        system_default = bastion_tls
        [bastion_tls]
        Groups = {Groups}

        """;

    /// <summary>
    /// Call first thing in Main, before anything uses cryptography. Returns null when applied, else why not (the caller
    /// says so: TLS then uses OpenSSL's default groups).
    /// </summary>
    public static string? Apply()
    {
        if (!OperatingSystem.IsLinux())
        {
            return "not Linux";
        }
        var previous = Environment.GetEnvironmentVariable("OPENSSL_CONF");
        int fd;
        using (var name = new Utf8String("bastion-openssl.cnf"))
        {
            fd = MemfdCreate(name.Pointer, MfdCloexec);
        }
        if (fd < 0)
        {
            return $"memfd_create failed (errno {Marshal.GetLastPInvokeError()})";
        }
        using var file = new SafeFileHandle(fd, ownsHandle: true);
        RandomAccess.Write(file, Encoding.ASCII.GetBytes(OpenSslConfig), 0);
        SetVariable("OPENSSL_CONF", $"/proc/self/fd/{fd}");
        try
        {
            // Any hash makes .NET initialise OpenSSL (OPENSSL_init_ssl with OPENSSL_INIT_LOAD_CONFIG), which reads the file.
            System.Security.Cryptography.SHA256.HashData("bastion"u8);
        }
        finally
        {
            SetVariable("OPENSSL_CONF", previous);
        }
        return null;
    }

    private static void SetVariable(string name, string? value)
    {
        using var n = new Utf8String(name);
        if (value is null)
        {
            _ = UnsetEnv(n.Pointer);
        }
        else
        {
            using var v = new Utf8String(value);
            _ = SetEnv(n.Pointer, v.Pointer, 1);
        }
    }

    private sealed class Utf8String(string value) : IDisposable
    {
        public nint Pointer { get; } = Marshal.StringToCoTaskMemUTF8(value);

        public void Dispose() => Marshal.FreeCoTaskMem(Pointer);
    }

    [LibraryImport("libc", EntryPoint = "memfd_create", SetLastError = true)]
    private static partial int MemfdCreate(nint name, uint flags);

    [LibraryImport("libc", EntryPoint = "setenv")]
    private static partial int SetEnv(nint name, nint value, int overwrite);

    [LibraryImport("libc", EntryPoint = "unsetenv")]
    private static partial int UnsetEnv(nint name);
}
