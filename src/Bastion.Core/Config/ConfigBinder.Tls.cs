namespace Bastion.Config;

// tls:
internal sealed partial class ConfigBinder
{
    // sun_path is 108 bytes including the terminating NUL.
    private const int MaxUnixSocketPath = 107;

    private EquatableArray<TlsEndpointConfig> BindTls(KeyedMapping root)
    {
        var names = new UniqueNames(errors, "give each TLS endpoint its own name");
        var result = new List<TlsEndpointConfig>();
        foreach (var m in Items(root, "tls"))
        {
            var nameAt = Require(m, "name", "vnc");
            var name = Name(nameAt);
            names.Claim(name, nameAt);
            var mode = Choice(Require(m, "mode", "listen (or dial)"), ConfigChoices.TlsMode);
            var address = Endpoint(Require(m, "address", "0.0.0.0:5901"), localListener: mode is null or TlsMode.Listen);
            if (mode is TlsMode.Dial && name is not null)
            {
                _facts.TlsDialNames.Add(name);
            }
            var caAt = Get(m, "ca");
            if (caAt is null)
            {
                _facts.TlsWithoutCa.Add(new Located(m.Node, m.Path));
            }
            var d = new TlsEndpointConfig
            {
                Name = "", Mode = default, Address = Placeholder, Certificate = "", Key = "",
            };
            result.Add(new TlsEndpointConfig
            {
                Name = name ?? "",
                Mode = mode ?? default,
                Address = address ?? Placeholder,
                Interval = Duration(Get(m, "interval")) ?? d.Interval,
                Backend = TlsBackend(m, name),
                Certificate = ExistingFile(Require(m, "certificate", "/etc/bastion/tls/server.crt"),
                    _ => "fix the path (the PEM certificate this endpoint presents)") ?? "",
                Key = PrivateFile(Require(m, "key", "/etc/bastion/tls/server.key"),
                    _ => "fix the path (the PEM private key of certificate)") ?? "",
                Ca = ExistingFile(caAt, _ => "fix the path (the PEM CA certificate that signs the peers), or remove ca to use the pki: CA"),
                Pins = [.. Pins(Get(m, "pins"))],
                MaxFailedHandshakesPerMinute = Integer(Get(m, "maxFailedHandshakesPerMinute"), 1) ?? d.MaxFailedHandshakesPerMinute,
                MaxSessions = Integer(Get(m, "maxSessions"), 1, 1024) ?? d.MaxSessions,
                IdleTimeout = Duration(Get(m, "idleTimeout")) ?? d.IdleTimeout,
            });
        }
        _facts.TlsNames.AddRange(names.Values);
        return [.. result];
    }

    /// <summary>
    /// <c>backend</c> is required, except on the endpoint that fronts the emergency desktop (vnc.endpoint), where Bastion
    /// knows the socket: whether this entry is that one is only known once vnc: is bound, so the validator decides.
    /// </summary>
    private BackendAddress? TlsBackend(KeyedMapping m, string? name)
    {
        var at = Get(m, "backend");
        if (at is null)
        {
            _facts.TlsWithoutBackend.Add((new Located(m.Node, m.Path), name));
            return null;
        }
        if (name is not null)
        {
            _facts.TlsWithBackend.Add((at.Value, name));
        }
        return Backend(at);
    }

    /// <summary><c>unix:/path</c> (relative paths resolve against the config file's directory) or <c>host:port</c>.</summary>
    private BackendAddress? Backend(Located? value)
    {
        if (value is not { } at || Text(at) is not { } text)
        {
            return null;
        }
        if (!text.StartsWith("unix:", StringComparison.Ordinal))
        {
            return Endpoint(value) is { } tcp ? new BackendAddress(tcp, null) : null;
        }
        var path = text["unix:".Length..];
        if (path.Length == 0)
        {
            errors.Add(at, "unix: needs a socket path", "write e.g. unix:/run/bastion/rfb.sock");
            return null;
        }
        var full = Path.GetFullPath(path, baseDirectory);
        if (System.Text.Encoding.UTF8.GetByteCount(full) > MaxUnixSocketPath)
        {
            errors.Add(at, $"the socket path {full} is longer than {MaxUnixSocketPath} bytes, the limit of a Unix socket",
                "use a shorter path, e.g. under /run/bastion");
            return null;
        }
        return new BackendAddress(null, full);
    }

    /// <summary>SPKI SHA-256 pins: base64 of 32 bytes, stored padded (44 characters) whichever way they were written.</summary>
    private List<string> Pins(Located? value)
    {
        var pins = new List<string>();
        Span<byte> hash = stackalloc byte[33];
        foreach (var (text, at) in TextItems(value) ?? [])
        {
            var padded = text.Length == 43 ? text + "=" : text;
            if (!Convert.TryFromBase64String(padded, hash, out var written) || written != 32)
            {
                errors.Add(at, $"'{text}' is not a base64 SHA-256 pin",
                    "write the base64 SHA-256 of the peer's public key (openssl x509 -pubkey -noout -in CERT | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64)");
                pins.Add(text);
                continue;
            }
            pins.Add(Convert.ToBase64String(hash[..32]));
        }
        return pins;
    }
}
