using System.Text.RegularExpressions;
using Bastion.Fleet;

namespace Bastion.Config;

// fleet: this node in a fleet of bastionds (signed, encrypted commands through a NATS broker). Absent means off.
internal sealed partial class ConfigBinder
{
    [GeneratedRegex("^[a-z0-9][a-z0-9_-]{0,62}$")]
    private static partial Regex FleetNodePattern();

    private FleetConfig? BindFleet(KeyedMapping? m)
    {
        if (m is null)
        {
            return null;
        }
        var nodeAt = Require(m, "node", "web1");
        var node = Text(nodeAt);
        if (node is not null && !FleetNodePattern().IsMatch(node))
        {
            errors.Add(nodeAt!.Value, $"'{node}' is not a valid fleet node name (it is a NATS subject token)",
                "use 1 to 63 lowercase letters, digits, '_' or '-', starting with a letter or digit (no '.', '*', '>' or spaces), e.g. web1");
        }
        var serversAt = Require(m, "servers", "[ \"tls://nats.example.org:4222\" ]");
        var servers = new List<string>();
        var items = TextItems(serversAt);
        foreach (var (text, where) in items ?? [])
        {
            if (!Uri.TryCreate(text, UriKind.Absolute, out var uri) || uri.Scheme is not ("nats" or "tls" or "ws" or "wss")
                || uri.Host.Length == 0 || uri.AbsolutePath is not ("" or "/") || uri.Query.Length > 0)
            {
                errors.Add(where, $"'{text}' is not a NATS server URL", "write scheme://host:port with scheme nats, tls, ws or wss, e.g. tls://nats.example.org:4222");
            }
            else if (uri.UserInfo.Length > 0)
            {
                errors.Add(where, "the URL holds credentials, which would then show in status and logs", "remove user:password@ and use fleet.credentials");
            }
            else
            {
                servers.Add(text);
            }
        }
        if (serversAt is { } sa && items is { Count: 0 })
        {
            errors.Add(sa, "lists no server", "add at least one, e.g. servers: [ \"tls://nats.example.org:4222\" ]");
        }
        var credentials = PrivateFile(Get(m, "credentials"),
            path => $"create it, owned by bastiond's user, with chmod 600 {path}: a NATS .creds file, or two lines (the user name, then the password); or remove fleet.credentials");
        var ca = ExistingFile(Get(m, "ca"),
            path => $"put the PEM certificate of the CA that signed the broker's certificate at {path}, or remove fleet.ca to verify the broker against the system's CA store");
        var signersAt = Require(m, "allowedSigners", "/etc/bastion/fleet/allowed_signers");
        var signers = ExistingFile(signersAt, path => $"create it with one line per admin: `alice@example.org ssh-ed25519 AAAA...` (the format of ssh-keygen -Y verify)");
        if (signers is not null && options.CheckFiles && File.Exists(signers))
        {
            // The file's own errors name its own line and column.
            foreach (var error in AllowedSigners.Load(signers).Errors)
            {
                errors.Add(error);
            }
        }
        var interval = Duration(Get(m, "statusInterval"), TimeSpan.FromHours(1), "admins flag a node silent after three intervals");
        return new FleetConfig
        {
            Node = node ?? "",
            Servers = [.. servers],
            Credentials = credentials,
            Ca = ca,
            AllowedSigners = signers ?? "",
            StatusInterval = interval ?? TimeSpan.FromSeconds(30),
        };
    }
}
