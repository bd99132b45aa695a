using System.Globalization;

namespace Bastion.IO;

/// <summary>
/// Account names for audit lines ("uid 1001 (alice)"), from the local account file only. Deliberately not getpwuid(3):
/// NSS may ask LDAP/SSSD, and on the day Bastion is needed that network may be the thing that is down — a lookup that
/// hangs for a minute on the D-Bus thread would take the API with it. Accounts that exist only in a directory service
/// (or nss-systemd's dynamic users) are shown by uid alone.
/// </summary>
public static class LocalAccounts
{
    public const string PasswdPath = "/etc/passwd";

    /// <summary>The name of <paramref name="uid"/> in <paramref name="passwdPath"/>, or null (no such line, or unreadable).</summary>
    public static string? NameOf(uint uid, string passwdPath = PasswdPath)
    {
        try
        {
            return FindName(File.ReadLines(passwdPath), uid);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>The first name whose line (<c>name:password:uid:gid:gecos:home:shell</c>) has this uid.</summary>
    public static string? FindName(IEnumerable<string> passwdLines, uint uid)
    {
        var wanted = uid.ToString(CultureInfo.InvariantCulture);
        foreach (var line in passwdLines)
        {
            var fields = line.Split(':');
            // "+"/"-" lines are NIS compat entries, not accounts.
            if (fields.Length >= 3 && fields[2] == wanted && fields[0].Length > 0 && fields[0][0] is not ('+' or '-' or '#'))
            {
                return fields[0];
            }
        }
        return null;
    }

    public const string GroupPath = "/etc/group";

    /// <summary>
    /// Whether <paramref name="uid"/> belongs to <paramref name="group"/> in the local files: the group is its primary group
    /// (/etc/passwd) or lists its name (/etc/group). False when either file cannot be read, or there is no such account or group.
    /// </summary>
    public static bool IsMemberOf(uint uid, string group, string passwdPath = PasswdPath, string groupPath = GroupPath)
    {
        try
        {
            return IsMemberOf(File.ReadLines(passwdPath).ToList(), File.ReadLines(groupPath), uid, group);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    public static bool IsMemberOf(IReadOnlyList<string> passwdLines, IEnumerable<string> groupLines, uint uid, string group)
    {
        var wanted = uid.ToString(CultureInfo.InvariantCulture);
        var account = passwdLines.Select(l => l.Split(':'))
            .FirstOrDefault(f => f.Length >= 4 && f[2] == wanted && f[0].Length > 0 && f[0][0] is not ('+' or '-' or '#'));
        if (account is null || group.Length == 0)
        {
            return false;
        }
        foreach (var line in groupLines)
        {
            // name:password:gid:member,member
            var fields = line.Split(':');
            if (fields.Length >= 4 && fields[0] == group)
            {
                return fields[2] == account[3] || fields[3].Split(',').Contains(account[0], StringComparer.Ordinal);
            }
        }
        return false;
    }
}
