using System.Xml;

namespace Bastion.Api;

/// <summary>One argument of a method or signal: its name and D-Bus type signature.</summary>
public sealed record BusArgument(string Name, string Type);

public sealed record BusMethod(string Name, IReadOnlyList<BusArgument> In, IReadOnlyList<BusArgument> Out)
{
    public string InSignature => string.Concat(In.Select(a => a.Type));
    public string OutSignature => string.Concat(Out.Select(a => a.Type));
}

public sealed record BusSignal(string Name, IReadOnlyList<BusArgument> Args)
{
    public string Signature => string.Concat(Args.Select(a => a.Type));
}

/// <summary>A read-only property; <see cref="Const"/> ones never change, the others announce changes with PropertiesChanged.</summary>
public sealed record BusProperty(string Name, string Type, bool Const);

/// <summary>
/// One D-Bus interface as its introspection XML declares it. The XML file is the single declaration of an interface:
/// bastiond's dispatch table is checked against it and its Introspect answer made from it, and a test compares it with what the bus shows.
/// </summary>
public sealed record InterfaceDescription(
    string Name, IReadOnlyList<BusMethod> Methods, IReadOnlyList<BusProperty> Properties, IReadOnlyList<BusSignal> Signals)
{
    private const string EmitsChanged = "org.freedesktop.DBus.Property.EmitsChangedSignal";

    /// <summary>Parses the <c>&lt;interface name="…"&gt;</c> element of an introspection document (or a lone interface element).</summary>
    public static InterfaceDescription Parse(string xml, string interfaceName)
    {
        var document = new XmlDocument { XmlResolver = null };
        using (var reader = XmlReader.Create(new StringReader(xml), new XmlReaderSettings { DtdProcessing = DtdProcessing.Ignore, XmlResolver = null }))
        {
            document.Load(reader);
        }
        var element = document.SelectSingleNode($"//interface[@name='{interfaceName}']") as XmlElement
            ?? throw new FormatException($"no <interface name=\"{interfaceName}\"> in the XML");

        var methods = new List<BusMethod>();
        var properties = new List<BusProperty>();
        var signals = new List<BusSignal>();
        foreach (var child in element.ChildNodes.OfType<XmlElement>())
        {
            var name = Required(child, "name");
            switch (child.Name)
            {
                case "method":
                    var args = Args(child);
                    methods.Add(new BusMethod(name,
                        [.. args.Where(a => a.Direction != "out").Select(a => a.Argument)],
                        [.. args.Where(a => a.Direction == "out").Select(a => a.Argument)]));
                    break;
                case "signal":
                    signals.Add(new BusSignal(name, [.. Args(child).Select(a => a.Argument)]));
                    break;
                case "property":
                    if (Required(child, "access") != "read")
                    {
                        throw new FormatException($"property {name}: only read-only properties are supported");
                    }
                    var emits = child.ChildNodes.OfType<XmlElement>()
                        .FirstOrDefault(a => a.Name == "annotation" && a.GetAttribute("name") == EmitsChanged)?.GetAttribute("value") ?? "true";
                    properties.Add(new BusProperty(name, Required(child, "type"), emits == "const"));
                    break;
            }
        }
        return new InterfaceDescription(interfaceName, methods, properties, signals);
    }

    /// <summary>
    /// The <c>&lt;interface&gt;</c> element as the object's Introspect answers it, made from this description (so the XML file
    /// stays the one declaration): arguments written type, name, direction; constant properties annotated <c>const</c>, the
    /// others without annotation (they emit PropertiesChanged, the default).
    /// </summary>
    public string ToIntrospectionXml()
    {
        var sb = new System.Text.StringBuilder();
        sb.Append(" <interface name=\"").Append(Escape(Name)).Append("\">\n");
        foreach (var m in Methods)
        {
            sb.Append("  <method name=\"").Append(Escape(m.Name)).Append("\">\n");
            AppendArgs(sb, m.In, "in");
            AppendArgs(sb, m.Out, "out");
            sb.Append("  </method>\n");
        }
        foreach (var s in Signals)
        {
            sb.Append("  <signal name=\"").Append(Escape(s.Name)).Append("\">\n");
            AppendArgs(sb, s.Args, null);
            sb.Append("  </signal>\n");
        }
        foreach (var p in Properties)
        {
            sb.Append("  <property name=\"").Append(Escape(p.Name)).Append("\" type=\"").Append(Escape(p.Type)).Append("\" access=\"read\">\n");
            if (p.Const)
            {
                sb.Append("   <annotation name=\"").Append(EmitsChanged).Append("\" value=\"const\"/>\n");
            }
            sb.Append("  </property>\n");
        }
        sb.Append(" </interface>\n");
        return sb.ToString();
    }

    private static void AppendArgs(System.Text.StringBuilder sb, IEnumerable<BusArgument> args, string? direction)
    {
        foreach (var a in args)
        {
            sb.Append("   <arg type=\"").Append(Escape(a.Type)).Append("\" name=\"").Append(Escape(a.Name)).Append('"');
            if (direction is not null)
            {
                sb.Append(" direction=\"").Append(direction).Append('"');
            }
            sb.Append("/>\n");
        }
    }

    private static string Escape(string value) => System.Security.SecurityElement.Escape(value);

    /// <summary>Equal members, signatures and argument names (what a client relies on), whatever the order in the XML.</summary>
    public bool SameShapeAs(InterfaceDescription other) =>
        Name == other.Name
        && Shape(this).SequenceEqual(Shape(other), StringComparer.Ordinal);

    /// <summary>One line per member, sorted: for comparing and for readable assertion messages.</summary>
    public static IReadOnlyList<string> Shape(InterfaceDescription d) =>
        [.. d.Methods.Select(m => $"method {m.Name}({Describe(m.In)}) -> ({Describe(m.Out)})")
            .Concat(d.Properties.Select(p => $"property {p.Name} {p.Type}{(p.Const ? " const" : "")}"))
            .Concat(d.Signals.Select(s => $"signal {s.Name}({Describe(s.Args)})"))
            .Order(StringComparer.Ordinal)];

    private static string Describe(IEnumerable<BusArgument> args) => string.Join(", ", args.Select(a => a.Type + " " + a.Name));

    private static List<(string? Direction, BusArgument Argument)> Args(XmlElement member) =>
        [.. member.ChildNodes.OfType<XmlElement>().Where(e => e.Name == "arg").Select(e =>
            ((string?)(e.HasAttribute("direction") ? e.GetAttribute("direction") : null),
             new BusArgument(e.GetAttribute("name"), Required(e, "type"))))];

    private static string Required(XmlElement e, string attribute) =>
        e.HasAttribute(attribute) ? e.GetAttribute(attribute)
            : throw new FormatException($"<{e.Name}> without {attribute}=\"…\"");
}
