using System.Collections.Frozen;

namespace Bastion.Config;

/// <summary>
/// The keys one mapping of the config may hold. <see cref="Path"/> is the schema path (list items as
/// <c>[]</c>, e.g. <c>tunnels[].server</c>); <see cref="Nested"/> are the keys whose value is itself a
/// mapping or a list of mappings.
/// </summary>
internal sealed class KeySet
{
    public KeySet(string path, string[] keys, params KeySet[] nested)
    {
        Path = path;
        Keys = keys;
        Nested = nested.ToFrozenDictionary(n => n.Name, StringComparer.Ordinal);
        Name = path[(path.LastIndexOf('.') + 1)..].Replace("[]", "", StringComparison.Ordinal);
    }

    public string Path { get; }

    /// <summary>The key this set hangs under in its parent (<c>server</c> for <c>tunnels[].server</c>).</summary>
    public string Name { get; }

    /// <summary>In the order the documentation lists them (also the order suggestions prefer).</summary>
    public IReadOnlyList<string> Keys { get; }

    public FrozenDictionary<string, KeySet> Nested { get; }

    public bool Contains(string key) => Keys.Contains(key, StringComparer.Ordinal);

    public string PathOf(string key) => Path.Length == 0 ? key : Path + "." + key;
}

/// <summary>
/// Every key the config knows, in one place. The binder may only read keys listed here (checked in debug
/// builds), unknown-key errors come from here, and a test proves the example config shows each of them.
/// </summary>
internal static class ConfigSchema
{
    public static KeySet Root { get; } = Build();

    /// <summary>Every key path (<c>tunnels[].server.port</c>), parents before children.</summary>
    public static IEnumerable<string> KeyPaths => Walk(Root);

    private static IEnumerable<string> Walk(KeySet set)
    {
        foreach (var key in set.Keys)
        {
            yield return set.PathOf(key);
            if (set.Nested.TryGetValue(key, out var nested))
            {
                foreach (var path in Walk(nested))
                {
                    yield return path;
                }
            }
        }
    }

    private static KeySet Build()
    {
        static KeySet Backoff(string path) => new(path, ["initial", "max", "resetAfter"]);

        var paths = new KeySet("paths", ["stateDir", "runtimeDir"]);
        var logging = new KeySet("logging", ["level", "format"]);
        var supervision = new KeySet("supervision", ["backoff", "stopTimeout"], Backoff("supervision.backoff"));
        var checks = new KeySet("checks[]", ["name", "endpoint", "expect", "interval", "timeout", "failures"]);

        var hostKey = new KeySet("tunnels[].server.hostKey", ["fingerprints", "knownHosts", "ca"]);
        var server = new KeySet("tunnels[].server", ["host", "port", "user", "identity", "hostKey"], hostKey);
        var probe = new KeySet("tunnels[].probe", ["interval", "timeout", "failures"]);
        var limits = new KeySet("tunnels[].limits", ["connections", "perSource"]);
        var tunnels = new KeySet("tunnels[]",
            ["name", "kind", "server", "bind", "target", "via", "socks", "probe", "limits", "exposeBeyondLoopback", "backoff"],
            server, probe, limits, Backoff("tunnels[].backoff"));

        var tor = new KeySet("onion.tor", ["executable", "control", "cookieFile", "socksPort", "extraConfig"]);
        var ports = new KeySet("onion.services[].ports[]", ["virtual", "target"]);
        var clients = new KeySet("onion.services[].authorizedClients[]", ["name", "publicKey"]);
        var services = new KeySet("onion.services[]", ["name", "ports", "authorizedClients"], ports, clients);
        var onion = new KeySet("onion", ["tor", "services"], tor, services);

        var fallback = new KeySet("vnc.fallback", ["check", "failures", "grace"]);
        var vnc = new KeySet("vnc",
            ["mode", "display", "geometry", "executable", "session", "passwordFile", "endpoint", "stockViewers", "fallback"], fallback);

        var pki = new KeySet("pki",
            ["dir", "algorithm", "caLifetime", "serverLifetime", "clientLifetime", "renewBefore"]);
        var tls = new KeySet("tls[]",
            ["name", "mode", "address", "interval", "backend", "certificate", "key", "ca", "pins", "maxFailedHandshakesPerMinute", "maxSessions", "idleTimeout"]);
        var dbus = new KeySet("dbus", ["bus", "address", "adminGroup"]);
        var metrics = new KeySet("metrics", ["listen", "includeAddresses"]);
        var fleet = new KeySet("fleet", ["node", "servers", "credentials", "ca", "allowedSigners", "statusInterval"]);

        return new KeySet("",
            ["paths", "logging", "supervision", "checks", "tunnels", "onion", "vnc", "pki", "tls", "dbus", "metrics", "fleet"],
            paths, logging, supervision, checks, tunnels, onion, vnc, pki, tls, dbus, metrics, fleet);
    }
}
