using Bastion.IO;

namespace Bastion.Tests.IO;

public sealed class LocalAccountsGroupTests
{
    private static readonly string[] Passwd =
    [
        "root:x:0:0:root:/root:/bin/bash",
        "alice:x:1001:1001::/home/alice:/bin/bash",
        "bob:x:1002:2000::/home/bob:/bin/bash",
        "carol:x:1003:1003::/home/carol:/bin/bash",
        "+nis:x:1004:2000::/:/bin/false",
    ];

    private static readonly string[] Group =
    [
        "root:x:0:",
        "bastion-admin:x:2000:alice,dave",
        "alice:x:1001:",
        "admins2:x:2001:carol",
    ];

    [Fact]
    public void A_user_listed_in_the_group_or_having_it_as_primary_group_is_a_member()
    {
        Assert.True(LocalAccounts.IsMemberOf(Passwd, Group, 1001, "bastion-admin"));
        Assert.True(LocalAccounts.IsMemberOf(Passwd, Group, 1002, "bastion-admin"));
        Assert.True(LocalAccounts.IsMemberOf(Passwd, Group, 1003, "admins2"));
    }

    [Fact]
    public void Another_user_an_unknown_uid_a_missing_group_or_a_nis_line_is_not_a_member()
    {
        Assert.False(LocalAccounts.IsMemberOf(Passwd, Group, 1003, "bastion-admin"));
        Assert.False(LocalAccounts.IsMemberOf(Passwd, Group, 4242, "bastion-admin"));
        Assert.False(LocalAccounts.IsMemberOf(Passwd, Group, 1001, "no-such-group"));
        Assert.False(LocalAccounts.IsMemberOf(Passwd, Group, 1004, "bastion-admin"));
        Assert.False(LocalAccounts.IsMemberOf(Passwd, Group, 1001, ""));
    }

    [Fact]
    public void Unreadable_account_files_make_nobody_a_member()
    {
        Assert.False(LocalAccounts.IsMemberOf(0, "root", "/nonexistent/passwd", "/nonexistent/group"));
    }
}
