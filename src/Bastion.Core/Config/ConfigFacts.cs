namespace Bastion.Config;

/// <summary>
/// What the cross-section rules need, gathered while binding. Names are recorded as written even when an
/// entry has other errors, so a reference to it does not produce a second, misleading error.
/// </summary>
internal sealed class ConfigFacts
{
    public List<string> CheckNames { get; } = [];
    public List<string> TlsNames { get; } = [];
    public bool HasOnion { get; set; }
    public bool HasPki { get; set; }

    /// <summary>The <c>via</c> node of each <c>via: tor</c> tunnel without its own <c>socks</c>.</summary>
    public List<Located> TorTunnelsWithoutSocks { get; } = [];

    /// <summary>Each <c>tls[]</c> item without <c>ca</c> (it then relies on the <c>pki:</c> CA).</summary>
    public List<Located> TlsWithoutCa { get; } = [];

    /// <summary>Each <c>tls[]</c> item without <c>backend</c>, with its name (allowed only for the VNC endpoint).</summary>
    public List<(Located Where, string? Name)> TlsWithoutBackend { get; } = [];

    /// <summary>Each named <c>tls[]</c> item's <c>backend</c> node.</summary>
    public List<(Located Where, string Name)> TlsWithBackend { get; } = [];

    /// <summary>Whether vnc.mode is always or fallback (the VNC endpoint then relays to the desktop).</summary>
    public bool VncRuns { get; set; }

    /// <summary><c>vnc.fallback.check</c> as written.</summary>
    public (Located Where, string Name)? VncCheck { get; set; }

    /// <summary><c>vnc.endpoint</c> as written.</summary>
    public (Located Where, string Name)? VncEndpoint { get; set; }

    /// <summary>Names of the <c>tls:</c> entries in mode dial.</summary>
    public HashSet<string> TlsDialNames { get; } = new(StringComparer.Ordinal);

    /// <summary>Where <c>vnc.stockViewers: x509vnc</c> is written, if it is.</summary>
    public Located? VncX509Vnc { get; set; }
}
