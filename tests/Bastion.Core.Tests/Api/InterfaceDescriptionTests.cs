using Bastion.Api;

namespace Bastion.Tests.Api;

public sealed class InterfaceDescriptionTests
{
    private static string RepositoryFile(string relative)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Bastion.sln")))
            {
                return Path.Combine(dir.FullName, relative);
            }
        }
        throw new FileNotFoundException("repository root (Bastion.sln) not found above " + AppContext.BaseDirectory);
    }

    private static InterfaceDescription Shipped() =>
        InterfaceDescription.Parse(File.ReadAllText(RepositoryFile("src/Bastion.Daemon/DBus/org.bastion.Bastion1.xml")), BastionApi.Interface);

    [Fact]
    public void The_shipped_interface_declares_typed_methods_with_named_arguments()
    {
        var api = Shipped();

        var getStatus = api.Methods.Single(m => m.Name == "GetStatus");
        Assert.Empty(getStatus.In);
        Assert.Equal("sssusxxasxa(" + BastionApi.ComponentSignature + ")", getStatus.OutSignature);
        var restart = api.Methods.Single(m => m.Name == "RestartComponent");
        Assert.Equal(["kind", "name"], restart.In.Select(a => a.Name));
        Assert.Equal("ss", restart.InSignature);
        Assert.Equal("s", restart.OutSignature);
        Assert.Equal("bas", api.Methods.Single(m => m.Name == "Reload").OutSignature);
        Assert.Equal("a(" + BastionApi.ComponentSignature + ")", api.Methods.Single(m => m.Name == "ListComponents").OutSignature);
        Assert.Equal("ssssx", api.Signals.Single(s => s.Name == "ComponentStateChanged").Signature);
        Assert.All(api.Methods.SelectMany(m => m.In.Concat(m.Out)).Concat(api.Signals.SelectMany(s => s.Args)),
            a => Assert.False(string.IsNullOrEmpty(a.Name), "an argument without a name"));
    }

    [Fact]
    public void Constant_properties_are_marked_const_and_the_others_emit_changes()
    {
        var api = Shipped();

        Assert.Equal(["Pid", "StartedAt", "Version"], api.Properties.Where(p => p.Const).Select(p => p.Name).Order());
        Assert.Equal(["ConfigErrors", "ConfigPath", "LastReloadAt", "State", "Status"],
            api.Properties.Where(p => !p.Const).Select(p => p.Name).Order());
    }

    [Fact]
    public void Two_declarations_with_members_in_another_order_have_the_same_shape_but_a_renamed_argument_does_not()
    {
        const string a = """<node><interface name="x.Y"><method name="A"><arg name="n" type="s" direction="in"/></method><signal name="S"><arg name="v" type="x"/></signal></interface></node>""";
        const string b = """<node><interface name="x.Y"><signal name="S"><arg name="v" type="x"/></signal><method name="A"><arg name="n" type="s" direction="in"/></method></interface></node>""";
        const string c = """<node><interface name="x.Y"><signal name="S"><arg name="v" type="x"/></signal><method name="A"><arg name="m" type="s" direction="in"/></method></interface></node>""";

        Assert.True(InterfaceDescription.Parse(a, "x.Y").SameShapeAs(InterfaceDescription.Parse(b, "x.Y")));
        Assert.False(InterfaceDescription.Parse(a, "x.Y").SameShapeAs(InterfaceDescription.Parse(c, "x.Y")));
    }

    [Fact]
    public void A_missing_interface_or_a_writable_property_is_refused_with_a_reason()
    {
        Assert.Contains("no <interface name=\"x.Z\">",
            Assert.Throws<FormatException>(() => InterfaceDescription.Parse("<node/>", "x.Z")).Message, StringComparison.Ordinal);
        Assert.Contains("read-only",
            Assert.Throws<FormatException>(() => InterfaceDescription.Parse(
                """<node><interface name="x.Y"><property name="P" type="s" access="readwrite"/></interface></node>""", "x.Y")).Message,
            StringComparison.Ordinal);
    }

    [Fact]
    public void The_introspection_answer_made_from_the_declaration_has_its_shape_argument_names_and_const_annotations()
    {
        var api = Shipped();

        var xml = api.ToIntrospectionXml();
        var parsed = InterfaceDescription.Parse("<node>" + xml + "</node>", BastionApi.Interface);

        Assert.True(api.SameShapeAs(parsed), string.Join('\n', InterfaceDescription.Shape(parsed)));
        Assert.Contains("<arg type=\"s\" name=\"kind\" direction=\"in\"/>", xml, StringComparison.Ordinal);
        Assert.Equal(3, xml.Split("value=\"const\"").Length - 1);
    }
}
