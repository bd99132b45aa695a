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
}
