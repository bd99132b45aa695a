namespace Bastion.Config;

/// <summary>
/// Rules that cross sections (a reference from <c>vnc:</c> to <c>checks:</c>, a tunnel relying on
/// <c>onion:</c>). They run after every section is bound, so the order of sections in the file never matters.
/// Rules within one entry (a tunnel's kind and target) are checked where that entry is bound.
/// </summary>
internal static class ConfigValidator
{
    public static void Validate(ConfigFacts facts, ConfigErrorList errors)
    {
        if (!facts.HasOnion)
        {
            foreach (var via in facts.TorTunnelsWithoutSocks)
            {
                errors.Add(via, "via: tor needs a SOCKS proxy into tor",
                    "add socks: 127.0.0.1:9050 (an existing tor) or an onion: section (Bastion runs tor)");
            }
        }
        if (!facts.HasPki)
        {
            foreach (var item in facts.TlsWithoutCa)
            {
                errors.Add(item.Node, item.Path + ".ca", "is missing, and there is no pki: section to provide the CA",
                    "set ca: to the CA certificate that signs the peers' certificates, or add a pki: section");
            }
        }
        var vncEndpoint = facts.VncRuns ? facts.VncEndpoint?.Name : null;
        foreach (var (where, name) in facts.TlsWithoutBackend)
        {
            if (name is null || name != vncEndpoint)
            {
                errors.Add(where.Node, where.Path + ".backend", "is missing",
                    "add backend: unix:/path or host:port (only the endpoint that vnc.endpoint names may leave it out: it relays to the desktop)");
            }
        }
        foreach (var (where, name) in facts.TlsWithBackend)
        {
            if (name == vncEndpoint)
            {
                errors.Add(where, $"is not used: '{name}' is vnc.endpoint, so it relays to the emergency desktop's own socket",
                    "remove backend: from this entry (Bastion connects it to the desktop)");
            }
        }
        if (facts.VncCheck is { } check)
        {
            CheckReference(errors, check.Where, check.Name, facts.CheckNames, "checks", "check");
        }
        if (facts.VncEndpoint is { } endpoint)
        {
            CheckReference(errors, endpoint.Where, endpoint.Name, facts.TlsNames, "tls", "TLS endpoint");
            if (facts.VncX509Vnc is { } x509Vnc && facts.TlsDialNames.Contains(endpoint.Name))
            {
                errors.Add(x509Vnc, $"needs vnc.endpoint in mode listen, but tls '{endpoint.Name}' is in mode dial (it phones home to a TLS listener; no stock viewer connects to it)",
                    "remove stockViewers (or write explain), or give the desktop an endpoint in mode listen");
            }
        }
    }

    private static void CheckReference(ConfigErrorList errors, Located at, string name, List<string> names, string section, string what)
    {
        if (names.Contains(name, StringComparer.Ordinal))
        {
            return;
        }
        var fix = names.Count == 0
            ? $"add a {section}: entry named '{name}'"
            : $"{Suggestions.DidYouMean(name, names)}use one of: {string.Join(", ", names)} (the names under {section}:)";
        errors.Add(at, $"no {what} is named '{name}'", fix);
    }
}
