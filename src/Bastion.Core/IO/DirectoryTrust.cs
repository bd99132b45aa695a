using System.Globalization;

namespace Bastion.IO;

/// <summary>Why a directory is not trusted with the daemon's keys or status (sshd's StrictModes, for directories).</summary>
public enum DirectoryProblem
{
    None,
    Missing,
    NotADirectory,
    OwnedByAnotherUser,
    WritableByGroupOrOthers,
    Unreadable,
}

/// <summary>What <c>stat</c> says about a path: only the fields the trust decision needs.</summary>
public readonly record struct PathOwnership(uint Uid, UnixFileMode Mode, bool IsDirectory);

/// <summary>
/// The state and runtime directories are trusted only when the daemon's own user owns them and neither group nor others
/// may write them. Otherwise another user could plant a symlink where the daemon writes status.json or keys (root then
/// overwrites whatever it points to), or swap the CA's files. Refused, not repaired: a directory someone else owns is a
/// question for the admin, and the error names the directory and the fix.
/// </summary>
public static class DirectoryTrust
{
    private const UnixFileMode GroupOrOtherWrite = UnixFileMode.GroupWrite | UnixFileMode.OtherWrite;

    /// <summary>The decision, pure: <paramref name="ownership"/> from stat(2) (following symlinks), the daemon's effective uid.</summary>
    public static DirectoryProblem Evaluate(PathOwnership ownership, uint expectedUid)
    {
        if (!ownership.IsDirectory)
        {
            return DirectoryProblem.NotADirectory;
        }
        if (ownership.Uid != expectedUid)
        {
            return DirectoryProblem.OwnedByAnotherUser;
        }
        return (ownership.Mode & GroupOrOtherWrite) != 0 ? DirectoryProblem.WritableByGroupOrOthers : DirectoryProblem.None;
    }

    /// <summary>
    /// One line: what is wrong with <paramref name="dir"/> and the commands that fix it. Account names come from
    /// <paramref name="nameOf"/> (default: <see cref="LocalAccounts.NameOf"/> on /etc/passwd).
    /// </summary>
    public static string Describe(string dir, DirectoryProblem problem, PathOwnership? ownership, uint expectedUid,
        string? error = null, Func<uint, string?>? nameOf = null)
    {
        nameOf ??= uid => LocalAccounts.NameOf(uid);
        var mode = ownership is { } o ? Convert.ToString((int)o.Mode, 8).PadLeft(4, '0') : "?";
        var owner = ownership is { } w ? Account(w.Uid, nameOf) : "?";
        var me = Account(expectedUid, nameOf);
        var myName = nameOf(expectedUid) ?? expectedUid.ToString(CultureInfo.InvariantCulture);
        return problem switch
        {
            DirectoryProblem.None => $"{dir}: trusted",
            DirectoryProblem.Missing => $"{dir}: does not exist",
            DirectoryProblem.NotADirectory => $"{dir}: is not a directory — remove it, or point paths.stateDir / paths.runtimeDir elsewhere",
            DirectoryProblem.OwnedByAnotherUser =>
                $"{dir}: refused: owned by {owner}, not by {me} that bastiond runs as (another user could replace what bastiond writes there) — " +
                $"if this directory is yours to give: chown {myName} {dir} && chmod go-w {dir}; or point paths.stateDir / paths.runtimeDir elsewhere",
            DirectoryProblem.WritableByGroupOrOthers =>
                $"{dir}: refused: mode {mode} lets group or others write into it (they could replace what bastiond writes there) — chmod go-w {dir}",
            _ => $"{dir}: cannot be checked: {error} — fix its permissions or point paths.stateDir / paths.runtimeDir elsewhere",
        };
    }

    private static string Account(uint uid, Func<uint, string?> nameOf) =>
        nameOf(uid) is { } name
            ? $"uid {uid.ToString(CultureInfo.InvariantCulture)} ({name})"
            : $"uid {uid.ToString(CultureInfo.InvariantCulture)}";
}
