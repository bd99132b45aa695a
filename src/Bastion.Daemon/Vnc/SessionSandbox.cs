using System.Globalization;
using System.Runtime.InteropServices;

namespace Bastion.Daemon.Vnc;

/// <summary>
/// What of bastiond's own confinement the desktop's session would inherit. The session (a terminal running login, then
/// the admin's shell) is a child of bastiond, so a systemd sandbox on bastiond (systemd/bastion-hardening.conf:
/// NoNewPrivileges, a capability bounding set, ProtectSystem=strict) applies to the admin too: no sudo, root that cannot
/// read other users' files, a read-only /etc — an emergency console that cannot repair sshd_config. bastiond cannot lift
/// that from inside; it says so in vnc/desktop's state instead of letting an admin find out on the worst day.
/// </summary>
internal static partial class SessionSandbox
{
    private const int CapDacOverride = 1;
    private const int CapSysAdmin = 21;
    private const int WriteOk = 2;
    private const int ReadOnlyFileSystem = 30; // EROFS

    /// <summary>Null when the session is not confined; otherwise what confines it ("no new privileges; /etc read-only").</summary>
    public static string? Describe()
    {
        var found = new List<string>();
        string status;
        try
        {
            status = File.ReadAllText("/proc/self/status");
        }
        catch (IOException)
        {
            return null; // no /proc: nothing to tell (and nothing a sandbox test could see either)
        }
        if (Field(status, "NoNewPrivs:") == "1")
        {
            found.Add("no new privileges (sudo and su fail)");
        }
        if (Field(status, "CapBnd:") is { } hex && ulong.TryParse(hex, NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var bounding))
        {
            var missing = new List<string>();
            if ((bounding & (1UL << CapDacOverride)) == 0)
            {
                missing.Add("CAP_DAC_OVERRIDE");
            }
            if ((bounding & (1UL << CapSysAdmin)) == 0)
            {
                missing.Add("CAP_SYS_ADMIN");
            }
            if (missing.Count > 0)
            {
                found.Add("root without " + string.Join(" and ", missing));
            }
        }
        if (Access("/etc", WriteOk) != 0 && Marshal.GetLastPInvokeError() == ReadOnlyFileSystem)
        {
            found.Add("/etc read-only");
        }
        return found.Count == 0 ? null : string.Join("; ", found);
    }

    /// <summary>The reason text for a confined session, with the fix.</summary>
    public static string Warning(string confinement) =>
        $"the session inherits bastiond's sandbox ({confinement}): an admin could not repair much from this desktop — " +
        "remove /etc/systemd/system/bastion.service.d/hardening.conf (systemd/bastion-hardening.conf) and restart bastion";

    private static string? Field(string status, string name)
    {
        foreach (var line in status.Split('\n'))
        {
            if (line.StartsWith(name, StringComparison.Ordinal))
            {
                return line[name.Length..].Trim();
            }
        }
        return null;
    }

    [LibraryImport("libc", EntryPoint = "access", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Access(string path, int mode);
}
