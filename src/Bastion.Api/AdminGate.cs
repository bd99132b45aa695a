using Bastion.IO;

namespace Bastion.Api;

/// <summary>
/// The daemon's own check before every mutating call (the second gate, after the bus policy): the caller's uid, as the bus
/// daemon saw it, must be root or a member of the admin group (<c>dbus.adminGroup</c>, default bastion-admin) in the local
/// account files. A caller the bus could not identify is refused. With a permissive policy, a session bus or a private
/// address, this is what stands between any local user and Reload, RestartComponent or ControlVnc.
/// </summary>
public sealed class AdminGate(string group, Func<uint, string, bool> isMember, Func<uint, string?> nameOf)
{
    public string Group => group;

    /// <summary>The gate on the machine's account files (/etc/passwd, /etc/group).</summary>
    public static AdminGate ForLocalAccounts(string group) =>
        new(group, static (uid, g) => LocalAccounts.IsMemberOf(uid, g), static uid => LocalAccounts.NameOf(uid));

    /// <summary>Null when the caller may go ahead; otherwise why not, for the AccessDenied reply.</summary>
    public string? Refusal(BusCaller caller, string member)
    {
        if (caller.Uid is not { } uid)
        {
            return $"{member} needs a caller the bus can identify, and it could not say who {caller.UniqueName} is"
                + (caller.Problem is null ? "" : $" ({caller.Problem})");
        }
        if (uid == 0 || isMember(uid, group))
        {
            return null;
        }
        var who = nameOf(uid) is { Length: > 0 } name ? $"{name} (uid {uid})" : $"uid {uid}";
        return $"{member} needs root or a member of the group {group}; {who} is neither (an admin adds it with: usermod -aG {group} USER)";
    }
}
