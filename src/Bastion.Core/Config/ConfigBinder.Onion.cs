namespace Bastion.Config;

// onion:
internal sealed partial class ConfigBinder
{
    private const string Base32Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

    private OnionConfig? BindOnion(KeyedMapping root)
    {
        // Present even when mistyped: a via: tor tunnel then gets no second, misleading error.
        _facts.HasOnion = Get(root, "onion") is not null;
        var m = Section(root, "onion");
        if (m is null)
        {
            return null;
        }
        var names = new UniqueNames(errors, "give each onion service its own name");
        var services = new List<OnionServiceConfig>();
        foreach (var service in Items(m, "services"))
        {
            var nameAt = Require(service, "name", "ssh");
            var name = Name(nameAt);
            names.Claim(name, nameAt);
            var d = new OnionServiceConfig { Name = "" };
            services.Add(new OnionServiceConfig
            {
                Name = name ?? "",
                Ports = BindOnionPorts(service) ?? d.Ports,
                AuthorizedClients = BindOnionClients(service),
            });
        }
        return new OnionConfig { Tor = BindTor(Section(m, "tor")), Services = [.. services] };
    }

    private TorConfig BindTor(KeyedMapping? m)
    {
        var d = new TorConfig();
        var extra = new List<string>();
        foreach (var (line, at) in TextItems(Get(m, "extraConfig")) ?? [])
        {
            extra.Add(line);
            if (line.Contains('\n', StringComparison.Ordinal) || line.Contains('\r', StringComparison.Ordinal))
            {
                errors.Add(at, "holds more than one line", "write one torrc line per list entry");
            }
            else if (Bastion.Tor.TorrcKey.IsInclude(line))
            {
                errors.Add(at, "includes other files (%include)",
                    "write the options themselves into extraConfig: Bastion checks every line of its tor's configuration, and cannot check an included file");
            }
            else if (ManagedTorrcOption(line) is { } option)
            {
                errors.Add(at, $"sets {option}, which Bastion sets itself for the tor it manages",
                    option == "SocksPort" ? "use onion.tor.socksPort instead" : "remove this line (Bastion needs its own value to control tor)");
            }
        }
        var control = Endpoint(Get(m, "control"));
        var cookieAt = Get(m, "cookieFile");
        if (cookieAt is { } c && Get(m, "control") is null)
        {
            errors.Add(c, "is set without onion.tor.control", "remove it (Bastion's own tor has its own cookie), or set control: to the existing tor's control port");
        }
        return new TorConfig
        {
            Executable = FilePath(Get(m, "executable")) ?? d.Executable,
            Control = control,
            CookieFile = FilePath(cookieAt) ?? d.CookieFile,
            SocksPort = Endpoint(Get(m, "socksPort")) ?? d.SocksPort,
            ExtraConfig = [.. extra],
        };
    }

    /// <summary>
    /// The torrc options the managed tor's own lines set (DataDirectory 0700, the control port with cookie authentication,
    /// the owner): an extra line would silently take precedence and cut bastiond off from its tor.
    /// </summary>
    private static readonly string[] ManagedTorrcOptions =
    [
        "DataDirectory", "SocksPort", "ControlPort", "ControlPortWriteToFile", "CookieAuthentication", "CookieAuthFile",
        "__OwningControllerProcess", "RunAsDaemon", "HashedControlPassword", "ControlSocket",
    ];

    /// <summary>Read as tor reads the key: '+SocksPort', '/ControlPort', '__ControlPort' and abbreviations count too.</summary>
    private static string? ManagedTorrcOption(string line)
    {
        var key = Bastion.Tor.TorrcKey.RawKey(line);
        return ManagedTorrcOptions.FirstOrDefault(o => Bastion.Tor.TorrcKey.Sets(key, o));
    }

    /// <summary>Null when <c>ports</c> is left out (the model's default publishes port 22).</summary>
    private EquatableArray<OnionPortConfig>? BindOnionPorts(KeyedMapping service)
    {
        if (Get(service, "ports") is not { } listAt)
        {
            return null;
        }
        var ports = Items(service, "ports");
        if (listAt.Node is YamlSequence { Items.Count: 0 })
        {
            errors.Add(listAt, "is empty; an onion service needs at least one port",
                "add one, e.g. - {virtual: 22, target: 127.0.0.1:22}, or remove ports: to publish sshd on port 22");
        }
        var seen = new UniqueNames(errors, "publish each virtual port once");
        var result = new List<OnionPortConfig>();
        foreach (var m in ports)
        {
            var virtualAt = Require(m, "virtual", "22");
            var port = Port(virtualAt);
            seen.Claim(port?.ToString(System.Globalization.CultureInfo.InvariantCulture), virtualAt);
            var target = Endpoint(Require(m, "target", "127.0.0.1:22"));
            result.Add(new OnionPortConfig(port ?? 0, target ?? Placeholder));
        }
        return [.. result];
    }

    private EquatableArray<OnionClientConfig> BindOnionClients(KeyedMapping service)
    {
        var names = new UniqueNames(errors, "give each authorized client its own name");
        var result = new List<OnionClientConfig>();
        foreach (var m in Items(service, "authorizedClients"))
        {
            var nameAt = Require(m, "name", "alice-laptop");
            var name = Name(nameAt);
            names.Claim(name, nameAt);
            var key = OnionClientKey(Require(m, "publicKey", "the 52 base32 characters after descriptor:x25519: in the client's .auth file"));
            result.Add(new OnionClientConfig(name ?? "", key ?? ""));
        }
        return [.. result];
    }

    /// <summary>A base32 x25519 public key (52 characters, no padding), stored uppercase as tor expects it.</summary>
    private string? OnionClientKey(Located? value)
    {
        if (value is not { } at || Text(at) is not { } text)
        {
            return null;
        }
        const string Prefix = "descriptor:x25519:";
        if (text.StartsWith(Prefix, StringComparison.OrdinalIgnoreCase))
        {
            errors.Add(at, $"starts with '{Prefix}'", $"write only the key after '{Prefix}'");
            return null;
        }
        var key = text.ToUpperInvariant();
        // 52 characters carry 260 bits; a 32-byte key leaves the last 4 bits zero, so it ends in A or Q.
        if (key.Length != 52 || key.Any(c => !Base32Alphabet.Contains(c, StringComparison.Ordinal)) || key[^1] is not ('A' or 'Q'))
        {
            errors.Add(at, "is not a base32 x25519 public key",
                "write the client's public key: the 52 base32 characters (A-Z, 2-7) after descriptor:x25519: in its .auth file");
            return null;
        }
        return key;
    }
}
