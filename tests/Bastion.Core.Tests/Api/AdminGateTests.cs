using Bastion.Api;

namespace Bastion.Tests.Api;

public sealed class AdminGateTests
{
    private static readonly AdminGate Gate = new("ops", static (uid, group) => group == "ops" && uid == 1001,
        static uid => uid switch { 1001 => "alice", 1002 => "bob", _ => null });

    [Fact]
    public void Root_and_a_member_of_the_admin_group_pass()
    {
        Assert.Null(Gate.Refusal(new BusCaller(":1.1", 0, 10, null), "Reload"));
        Assert.Null(Gate.Refusal(new BusCaller(":1.2", 1001, 11, null), "Reload"));
    }

    [Fact]
    public void Anybody_else_is_refused_with_the_group_and_how_to_join_it()
    {
        var refusal = Gate.Refusal(new BusCaller(":1.3", 1002, 12, null), "RestartComponent");

        Assert.Equal("RestartComponent needs root or a member of the group ops; bob (uid 1002) is neither (an admin adds it with: usermod -aG ops USER)", refusal);
        Assert.Contains("uid 4242 is neither", Gate.Refusal(new BusCaller(":1.4", 4242, 13, null), "Reload"), StringComparison.Ordinal);
    }

    [Fact]
    public void A_caller_the_bus_could_not_identify_is_refused_even_when_it_would_be_root()
    {
        var refusal = Gate.Refusal(new BusCaller(":1.9", null, null, "it left the bus before it could be identified"), "ControlVnc");

        Assert.Equal("ControlVnc needs a caller the bus can identify, and it could not say who :1.9 is (it left the bus before it could be identified)", refusal);
    }
}
