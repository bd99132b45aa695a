using System.Collections.Frozen;
using System.Text;
using Bastion.Api;
using Bastion.Status;
using Tmds.DBus.Protocol;

namespace Bastion.Daemon.DBus;

/// <summary>Writes a reply's body (of the method's declared out signature).</summary>
internal delegate void BodyWriter(ref MessageWriter writer);

internal sealed partial class BastionBusApi
{
    private const string PropertiesInterface = "org.freedesktop.DBus.Properties";
    private const string IntrospectableInterface = "org.freedesktop.DBus.Introspectable";
    private const string PeerInterface = "org.freedesktop.DBus.Peer";

    /// <summary>A read-only method: answered at once from the published view.</summary>
    private delegate BodyWriter Query(StatusSnapshot view, ref Reader args);

    /// <summary>A mutating method: its arguments read and checked at once (named errors), carried out after the admin gate.</summary>
    private delegate Command Mutation(BastionBusApi api, ref Reader args);

    /// <summary>What a mutating call will do: the target for the audit line, and the work, answered when it completes.</summary>
    private sealed record Command(string Target, Func<Task<BodyWriter>> Run);

    private sealed record MethodRow(BusMethod Declared, Query? Query, Mutation? Mutation);

    private sealed record PropertyRow(BusProperty Declared, Func<DaemonStatus, PropertyValue> Value);

    /// <summary>The interface, parsed once from the embedded XML (the one declaration).</summary>
    public static readonly Lazy<InterfaceDescription> Description = new(() =>
    {
        using var stream = typeof(BastionBusApi).Assembly.GetManifestResourceStream("org.bastion.Bastion1.xml")
            ?? throw new InvalidOperationException("org.bastion.Bastion1.xml is not embedded");
        using var reader = new StreamReader(stream);
        return InterfaceDescription.Parse(reader.ReadToEnd(), BastionApi.Interface);
    });

    /// <summary>Every method of the interface and its typed handler; checked against the XML (<see cref="Bind"/>).</summary>
    private static readonly FrozenDictionary<string, MethodRow> Methods = Bind(
        Description.Value.Methods.Select(m => m.Name),
        [
            ("GetStatus", Read(static (view, ref args) => (ref w) => WriteStatus(ref w, view))),
            ("ListComponents", Read(static (view, ref args) => (ref w) => ComponentCodec.WriteArray(ref w, view.Components))),
            ("ListTunnels", Read(static (view, ref args) =>
                (ref w) => ComponentCodec.WriteArray(ref w, view.Components.Where(c => c.Kind == BastionApi.TunnelKind)))),
            ("GetComponent", Read(static (view, ref args) =>
            {
                var component = Find(view, args.ReadString(), args.ReadString());
                return (ref w) => ComponentCodec.Write(ref w, component);
            })),
            ("RestartComponent", Mutate(static (api, ref args) => api.Restart(args.ReadString(), args.ReadString()))),
            ("Reload", Mutate(static (api, ref args) => api.Reload())),
            ("ControlVnc", Mutate(static (api, ref args) => api.ControlVnc(args.ReadString(), args.ReadUInt64(), args.ReadBool()))),
        ],
        static (name, row) => new MethodRow(Description.Value.Methods.Single(m => m.Name == name), row.Query, row.Mutation));

    /// <summary>
    /// Every property and its typed value; the type must be the declared one and whether it emits PropertiesChanged is the
    /// XML's annotation (const or not), so there is no second list of changing properties.
    /// </summary>
    private static readonly FrozenDictionary<string, PropertyRow> Properties = Bind(
        Description.Value.Properties.Select(p => p.Name),
        [
            ("Version", static (DaemonStatus d) => PropertyValue.Of(d.Version)),
            ("Pid", static d => PropertyValue.Of((uint)d.Pid)),
            ("StartedAt", static d => PropertyValue.Of(ComponentCodec.ToMicroseconds(d.StartedAt))),
            ("State", static d => PropertyValue.Of(d.State)),
            ("Status", static d => PropertyValue.Of(d.Summary)),
            ("ConfigPath", static d => PropertyValue.Of(d.ConfigPath)),
            ("LastReloadAt", static d => PropertyValue.Of(d.LastReloadAt is { } at ? ComponentCodec.ToMicroseconds(at) : 0L)),
            ("ConfigErrors", static d => PropertyValue.Of(d.ConfigErrors)),
        ],
        static (name, value) => new PropertyRow(Description.Value.Properties.Single(p => p.Name == name), value));

    /// <summary>Each property's value must have its declared type; checked on the first view, at start.</summary>
    private static void CheckPropertyTypes(DaemonStatus daemon)
    {
        foreach (var row in Properties.Values)
        {
            var type = row.Value(daemon).Signature;
            if (type != row.Declared.Type)
            {
                throw new InvalidOperationException($"property {row.Declared.Name} is {type} here but {row.Declared.Type} in org.bastion.Bastion1.xml");
            }
        }
    }

    private static readonly string StateChangedSignature = Description.Value.Signals.Single(s => s.Name == "ComponentStateChanged").Signature;

    private static readonly ReadOnlyMemory<byte> IntrospectionXml = Encoding.UTF8.GetBytes(Description.Value.ToIntrospectionXml());

    private static (Query? Query, Mutation? Mutation) Read(Query query) => (query, null);

    private static (Query? Query, Mutation? Mutation) Mutate(Mutation mutation) => (null, mutation);

    /// <summary>A table keyed by member name that has exactly the declared members: a member missing on either side fails at start.</summary>
    private static FrozenDictionary<string, TRow> Bind<TValue, TRow>(IEnumerable<string> declared, (string Name, TValue Value)[] rows, Func<string, TValue, TRow> make)
    {
        var names = declared.ToHashSet(StringComparer.Ordinal);
        var missing = names.Except(rows.Select(r => r.Name)).ToList();
        var extra = rows.Select(r => r.Name).Except(names).ToList();
        if (missing.Count > 0 || extra.Count > 0)
        {
            throw new InvalidOperationException("the D-Bus table and org.bastion.Bastion1.xml disagree: "
                + $"without a handler: {string.Join(", ", missing)}; not declared: {string.Join(", ", extra)}");
        }
        return rows.ToFrozenDictionary(r => r.Name, r => make(r.Name, r.Value), StringComparer.Ordinal);
    }

    /// <summary>Names of the properties that announce their changes (not const in the XML).</summary>
    internal static IEnumerable<string> ChangingPropertyNames => Properties.Values.Where(p => !p.Declared.Const).Select(p => p.Declared.Name);

    private static Dictionary<string, PropertyValue> ChangingValues(DaemonStatus daemon) =>
        Properties.Values.Where(p => !p.Declared.Const).ToDictionary(p => p.Declared.Name, p => p.Value(daemon), StringComparer.Ordinal);

    /// <summary>The object's method handler: org.bastion.Bastion1 through the table, and the standard interfaces.</summary>
    private sealed class Handler(BastionBusApi api) : IPathMethodHandler
    {
        public string Path => BastionApi.ObjectPath;

        public bool HandlesChildPaths => false;

        public ValueTask HandleMethodAsync(MethodContext context)
        {
            var request = context.Request;
            var member = request.MemberAsString ?? "";
            try
            {
                switch (request.InterfaceAsString)
                {
                    case BastionApi.Interface or null:
                        api.HandleOwn(context, member);
                        break;
                    case PropertiesInterface:
                        api.HandleProperties(context, member);
                        break;
                    case IntrospectableInterface when member == "Introspect" && request.SignatureAsString is null or "":
                        context.ReplyIntrospectXml([IntrospectionXml, Tmds.DBus.Protocol.IntrospectionXml.DBusProperties]);
                        break;
                    case PeerInterface:
                        HandlePeer(context, member);
                        break;
                    default:
                        throw new BusException(BusErrors.UnknownMethod, $"Unknown method {member} or interface {request.InterfaceAsString}.");
                }
            }
            catch (BusException e) when (!context.DisposesAsynchronously)
            {
                context.ReplyError(e.Name, e.Message);
            }
#pragma warning disable CA1031 // A handler's failure is an error reply and a log line, never the end of the connection.
            catch (Exception e) when (!context.DisposesAsynchronously)
#pragma warning restore CA1031
            {
                DbusLog.HandlerFailed(api._logger, member, e);
                context.ReplyError(BusErrors.Failed, $"internal error in {member}: {e.GetType().Name}; see the daemon's log");
            }
            return ValueTask.CompletedTask;
        }
    }

    private void HandleOwn(MethodContext context, string member)
    {
        var request = context.Request;
        if (!Methods.TryGetValue(member, out var row))
        {
            throw new BusException(BusErrors.UnknownMethod, $"Unknown method {member} or interface {BastionApi.Interface}.");
        }
        CheckSignature(request, row.Declared.InSignature, BastionApi.Interface);
        var args = request.GetBodyReader();
        if (row.Query is { } query)
        {
            Reply(context, row.Declared.OutSignature, query(_view, ref args));
            return;
        }
        var command = row.Mutation!(this, ref args);
        var sender = request.SenderAsString ?? "?";
        // The rest waits for the bus (who is calling) and for the control loop: the library reads no further message until
        // this method returns, so it goes on asynchronously and disposes the context itself.
        context.DisposesAsynchronously = true;
        _ = CarryOutAsync(context, row, command, sender);
    }

    private async Task CarryOutAsync(MethodContext context, MethodRow row, Command command, string sender)
    {
        var member = row.Declared.Name;
        try
        {
            if (await AdmitAsync(context.DBusConnection, sender, member, command.Target).ConfigureAwait(false) is { } refusal)
            {
                context.ReplyError(BusErrors.AccessDenied, refusal);
                return;
            }
            Reply(context, row.Declared.OutSignature, await command.Run().ConfigureAwait(false));
        }
        catch (BusException e)
        {
            context.ReplyError(e.Name, e.Message);
        }
#pragma warning disable CA1031 // See HandleMethodAsync.
        catch (Exception e)
#pragma warning restore CA1031
        {
            DbusLog.HandlerFailed(_logger, member, e);
            context.ReplyError(BusErrors.Failed, $"internal error in {member}: {e.GetType().Name}; see the daemon's log");
        }
        finally
        {
            context.Dispose();
        }
    }

    private void HandleProperties(MethodContext context, string member)
    {
        var request = context.Request;
        var daemon = _view.Daemon;
        var args = request.GetBodyReader();
        switch (member)
        {
            case "Get":
            {
                CheckSignature(request, "ss", PropertiesInterface);
                var property = Property(args.ReadString(), args.ReadString());
                var value = property.Value(daemon);
                Reply(context, "v", (ref w) => value.WriteVariant(ref w));
                break;
            }
            case "GetAll":
            {
                CheckSignature(request, "s", PropertiesInterface);
                var iface = args.ReadString();
                var all = OwnInterface(iface) ? Properties.Values.Select(p => (p.Declared.Name, Value: p.Value(daemon))).ToList()
                    : throw new BusException(BusErrors.UnknownInterface, $"Unknown interface {iface}.");
                Reply(context, "a{sv}", (ref w) =>
                {
                    var dictionary = w.WriteDictionaryStart();
                    foreach (var (name, value) in all)
                    {
                        w.WriteDictionaryEntryStart();
                        w.WriteString(name);
                        value.WriteVariant(ref w);
                    }
                    w.WriteDictionaryEnd(dictionary);
                });
                break;
            }
            case "Set":
            {
                CheckSignature(request, "ssv", PropertiesInterface);
                var property = Property(args.ReadString(), args.ReadString());
                throw new BusException(BusErrors.PropertyReadOnly, $"Property '{property.Declared.Name}' is not writable.");
            }
            default:
                throw new BusException(BusErrors.UnknownMethod, $"Unknown method {member} or interface {PropertiesInterface}.");
        }
    }

    private static PropertyRow Property(string iface, string name) =>
        OwnInterface(iface) && Properties.TryGetValue(name, out var row) ? row
            : throw new BusException(BusErrors.UnknownProperty, $"Unknown property {Shown(name)} or interface {Shown(iface)}.");

    private static bool OwnInterface(string iface) => iface is BastionApi.Interface or "";

    private static void HandlePeer(MethodContext context, string member)
    {
        switch (member)
        {
            case "Ping":
                Reply(context, "", null);
                break;
            case "GetMachineId":
                var id = File.Exists("/etc/machine-id") ? File.ReadAllText("/etc/machine-id").Trim() : "";
                Reply(context, "s", (ref w) => w.WriteString(id));
                break;
            default:
                throw new BusException(BusErrors.UnknownMethod, $"Unknown method {member} or interface {PeerInterface}.");
        }
    }

    /// <summary>The arguments' types as the call declares them must be the method's (the message is sd-bus's, which callers may know).</summary>
    private static void CheckSignature(Message request, string expected, string iface)
    {
        var signature = request.SignatureAsString ?? "";
        if (signature != expected)
        {
            throw new BusException(BusErrors.InvalidArgs,
                $"Invalid arguments '{Shown(signature)}' to call {iface}.{request.MemberAsString}(), expecting '{expected}'.");
        }
    }

    private static void Reply(MethodContext context, string signature, BodyWriter? body)
    {
        if (context.NoReplyExpected)
        {
            return;
        }
        var writer = context.CreateReplyWriter(signature.Length == 0 ? null : signature);
        try
        {
            body?.Invoke(ref writer);
            context.Reply(writer.CreateMessage());
        }
        finally
        {
            writer.Dispose();
        }
    }
}
