using Bastion.Config;

namespace Bastion.Vnc;

/// <summary>
/// Where the emergency desktop's files live. Runtime (gone at reboot, systemd's RuntimeDirectory): <c>{runtimeDir}/vnc/</c>
/// (0700) with Xvnc's socket <c>rfb.sock</c> (0600) and the X cookie <c>Xauthority</c> (0600). State: the generated
/// password file <c>{stateDir}/vnc/passwd</c> (0600), used when <c>vnc.passwordFile</c> is not set.
/// </summary>
public static class VncPaths
{
    public static string RuntimeDirectory(PathsConfig paths) => Path.Combine(paths.RuntimeDir, "vnc");

    /// <summary>Xvnc's RFB socket, which the VNC endpoint relays to.</summary>
    public static string Socket(PathsConfig paths) => Path.Combine(RuntimeDirectory(paths), "rfb.sock");

    public static string XAuthorityFile(PathsConfig paths) => Path.Combine(RuntimeDirectory(paths), "Xauthority");

    /// <summary>The password file in use: vnc.passwordFile, or the generated one in the state dir.</summary>
    public static string PasswordFile(BastionConfig config) =>
        config.Vnc?.PasswordFile ?? Path.Combine(config.Paths.StateDir, "vnc", "passwd");
}
