using System.Globalization;

namespace Bastion.Config;

/// <summary>The one-line summary <c>bastiond --check-config</c> prints, like <c>sshd -t</c> but saying what it found.</summary>
public static class ConfigDescription
{
    public static string Describe(BastionConfig config)
    {
        var parts = new List<string>
        {
            Count(config.Checks.Count, "check"),
            Count(config.Tunnels.Count, "tunnel"),
        };
        if (config.Onion is { } onion)
        {
            parts.Add($"onion ({Count(onion.Services.Count, "service")}, {(onion.Tor.Control is null ? "managed tor" : "tor at " + onion.Tor.Control)})");
        }
        if (config.Vnc is { } vnc)
        {
            parts.Add("vnc " + vnc.Mode.ToString().ToLowerInvariant());
        }
        parts.Add(Count(config.Tls.Count, "tls endpoint"));
        if (config.Pki is not null)
        {
            parts.Add("pki");
        }
        parts.Add(config.Dbus.Bus switch
        {
            BusKind.None => "no d-bus",
            BusKind.Address => "d-bus at " + config.Dbus.Address,
            var bus => "d-bus " + bus.ToString().ToLowerInvariant() + " bus",
        });
        return $"{config.SourcePath}: OK: {string.Join(", ", parts)}";
    }

    private static string Count(int n, string noun) =>
        string.Create(CultureInfo.InvariantCulture, $"{n} {noun}{(n == 1 ? "" : "s")}");
}
