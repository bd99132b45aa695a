using Bastion.IO;
using Bastion.Api;

namespace Bastion.Tests.IO;

public sealed class LocalAccountsTests
{
    private static readonly string[] Passwd =
    [
        "root:x:0:0:root:/root:/bin/bash",
        "+nisuser:::::: ",
        "alice:x:1001:1001:Alice,,,:/home/alice:/bin/bash",
        "broken line",
        "alice2:x:1001:1001::/home/alice2:/bin/sh",
    ];

    [Fact]
    public void A_uid_resolves_to_the_first_account_with_it_and_an_unknown_uid_to_nothing()
    {
        Assert.Equal("root", LocalAccounts.FindName(Passwd, 0));
        Assert.Equal("alice", LocalAccounts.FindName(Passwd, 1001));
        Assert.Null(LocalAccounts.FindName(Passwd, 4242));
    }

    [Fact]
    public void An_unreadable_account_file_gives_no_name_instead_of_an_error()
    {
        Assert.Null(LocalAccounts.NameOf(0, "/nonexistent/passwd"));
    }

    [Fact]
    public void The_real_account_file_knows_root()
    {
        Assert.Equal("root", LocalAccounts.NameOf(0));
    }

    [Fact]
    public void A_caller_is_described_by_uid_name_pid_and_bus_name()
    {
        var root = new BusCaller(":1.42", 0, 1234, null);
        var stranger = new BusCaller(":1.7", 4242, 99, null);

        Assert.Equal("uid 0 (root) pid 1234 :1.42", root.Describe(uid => LocalAccounts.FindName(Passwd, uid)));
        Assert.Equal("uid 4242 pid 99 :1.7", stranger.Describe(uid => LocalAccounts.FindName(Passwd, uid)));
    }

    [Fact]
    public void A_caller_whose_credentials_the_bus_did_not_give_is_uid_unknown_with_the_reason()
    {
        var gone = new BusCaller(":1.9", null, null, "it left the bus before it could be identified");

        Assert.Equal("uid ? pid ? :1.9 (it left the bus before it could be identified)", gone.Describe(_ => "never asked"));
    }
}
