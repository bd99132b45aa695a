namespace Bastion.Config;

// tunnels[].server.hostKey: host authentication is mandatory, so there is no way to write "accept anything".
internal sealed partial class ConfigBinder
{
    private static readonly string[] SshKeyTypes =
    [
        "ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
        "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com",
    ];

    private HostKeyConfig BindHostKey(KeyedMapping? server, string host, int port)
    {
        var learn = $"run `bastionctl ssh hostkey {new Endpoint(host, port)}` to learn the fingerprint to pin; host key checking cannot be switched off";
        var at = RequireWithFix(server, "hostKey", "add hostKey: with fingerprints, knownHosts or ca; " + learn);
        var m = server is null ? null : Mapping(at, server.Keys.Nested["hostKey"]);
        var fingerprintsAt = Get(m, "fingerprints");
        var fingerprints = TextItems(fingerprintsAt);
        foreach (var (text, where) in fingerprints ?? [])
        {
            CheckFingerprint(text, where);
        }
        var knownHostsAt = Get(m, "knownHosts");
        var knownHosts = ExistingFile(knownHostsAt,
            path => $"fix the path, or create it with ssh-keyscan -p {port} {host} >> {path} and compare the fingerprints with the server's");
        var caAt = Get(m, "ca");
        var ca = Text(caAt);
        if (caAt is { } caWhere && ca is not null)
        {
            CheckCaKey(ca, caWhere);
        }
        var pinsNothing = (fingerprintsAt is null || fingerprints is { Count: 0 }) && knownHostsAt is null && caAt is null;
        if (m is not null && pinsNothing)
        {
            errors.Add(m.Node, m.Path, "has none of fingerprints, knownHosts or ca", learn);
        }
        return new HostKeyConfig
        {
            Fingerprints = [.. (fingerprints ?? []).Select(f => f.Text)],
            KnownHosts = knownHosts,
            Ca = ca,
        };
    }

    /// <summary><c>SHA256:</c> and 43 unpadded base64 characters (32 bytes), as <c>ssh-keygen -lf</c> prints it.</summary>
    private void CheckFingerprint(string text, Located at)
    {
        const string Prefix = "SHA256:";
        var learn = "write it as ssh-keygen -lf prints it: SHA256: and 43 base64 characters";
        if (text.StartsWith("MD5:", StringComparison.OrdinalIgnoreCase) || (text.Length == 47 && text.Count(c => c == ':') == 15))
        {
            errors.Add(at, $"'{text}' is an MD5 fingerprint, which is not accepted", "use the SHA256 one (ssh-keygen -lf FILE -E sha256)");
            return;
        }
        if (!text.StartsWith(Prefix, StringComparison.Ordinal))
        {
            errors.Add(at, $"'{text}' does not start with SHA256:", learn);
            return;
        }
        var body = text[Prefix.Length..];
        if (body.Length == 44 && body.EndsWith('='))
        {
            errors.Add(at, $"'{text}' ends with base64 padding", "remove the trailing '='");
            return;
        }
        Span<byte> hash = stackalloc byte[33];
        if (body.Length != 43 || !Convert.TryFromBase64String(body + "=", hash, out var written) || written != 32)
        {
            errors.Add(at, $"'{text}' is not a SHA256 fingerprint", learn);
        }
    }

    /// <summary>A public key line: type and base64 blob, optionally a comment (<c>ssh-ed25519 AAAA… host-ca</c>).</summary>
    private void CheckCaKey(string text, Located at)
    {
        var parts = text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length == 0)
        {
            errors.Add(at, "is blank", "paste the line from the CA's .pub file (ssh-ed25519 AAAA…)");
            return;
        }
        if (parts[0] is "@cert-authority")
        {
            errors.Add(at, "is a known_hosts line, not a key", "write only the key: its type and base64 (ssh-ed25519 AAAA…)");
            return;
        }
        if (parts[0].StartsWith('/'))
        {
            errors.Add(at, "ca takes the CA's public key itself, not a file path",
                "paste the line from the CA's .pub file (ssh-ed25519 AAAA…)");
            return;
        }
        var blob = parts.Length >= 2 ? new byte[parts[1].Length] : [];
        if (!SshKeyTypes.Contains(parts[0]) || parts.Length < 2 || !Convert.TryFromBase64String(parts[1], blob, out _))
        {
            errors.Add(at, "is not an SSH public key line",
                $"paste the line from the CA's .pub file: a key type ({string.Join(", ", SshKeyTypes[..5])}…) and its base64");
        }
    }
}
