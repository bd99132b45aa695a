using Bastion.Daemon.DBus;

namespace Bastion.Daemon.Tests.DBus;

/// <summary>
/// The D-Bus object's tables (methods → typed handlers, properties → typed values) against the interface's one declaration,
/// org.bastion.Bastion1.xml: a member missing on either side would fail the daemon at start, and here first.
/// </summary>
public sealed class DispatchTableTests
{
    [Fact]
    public void Every_declared_property_has_a_value_and_exactly_the_non_const_ones_announce_their_changes()
    {
        var declared = BastionBusApi.Description.Value;

        Assert.Equal(["ConfigErrors", "ConfigPath", "LastReloadAt", "State", "Status"], BastionBusApi.ChangingPropertyNames.Order(StringComparer.Ordinal));
        Assert.Equal(declared.Properties.Where(p => !p.Const).Select(p => p.Name).Order(StringComparer.Ordinal),
            BastionBusApi.ChangingPropertyNames.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Property_values_compare_by_type_and_content_so_an_equal_list_is_no_change()
    {
        Assert.Equal(PropertyValue.Of(["a", "b"]), PropertyValue.Of(new List<string> { "a", "b" }));
        Assert.NotEqual(PropertyValue.Of(["a"]), PropertyValue.Of(["a", "b"]));
        Assert.NotEqual(PropertyValue.Of(5u), PropertyValue.Of(5L));
        Assert.Equal("x", PropertyValue.Of(0L).Signature);
    }
}
