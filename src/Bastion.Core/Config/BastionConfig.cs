using System.Collections.Immutable;

namespace Bastion.Config;

/// <summary>
/// The whole daemon, as declared in one YAML file (<c>/etc/bastion/bastion.yaml</c> by default).
/// Every section is optional: an empty file is a valid config that supervises nothing.
/// Records compare by value (collections through <see cref="EquatableArray{T}"/>), which is what a reload diff relies on.
/// </summary>
public sealed record BastionConfig
{
    /// <summary>Where the config came from (for messages); not part of the declared state.</summary>
    public string SourcePath { get; init; } = "";

    public PathsConfig Paths { get; init; } = new();
    public LoggingConfig Logging { get; init; } = new();
    public SupervisionConfig Supervision { get; init; } = new();
    public EquatableArray<CheckConfig> Checks { get; init; } = [];
    public EquatableArray<TunnelConfig> Tunnels { get; init; } = [];
    public OnionConfig? Onion { get; init; }
    public VncConfig? Vnc { get; init; }
    public PkiConfig? Pki { get; init; }
    public EquatableArray<TlsEndpointConfig> Tls { get; init; } = [];
    public DbusConfig Dbus { get; init; } = new();

    /// <summary><c>metrics:</c> the Prometheus endpoint; null (absent) means none.</summary>
    public MetricsConfig? Metrics { get; init; }

    /// <summary><c>fleet:</c> signed, encrypted fleet commands and status; null (absent) means off.</summary>
    public FleetConfig? Fleet { get; init; }

    public static BastionConfig Empty { get; } = new();
}

/// <summary><c>paths:</c> where the daemon keeps state (keys, onion keys) and runtime files (sockets, status).</summary>
public sealed record PathsConfig
{
    public const string DefaultStateDir = "/var/lib/bastion";
    public const string DefaultRuntimeDir = "/run/bastion";

    /// <summary><c>paths.stateDir</c>: persistent, private (0700). systemd's StateDirectory=bastion.</summary>
    public string StateDir { get; init; } = DefaultStateDir;

    /// <summary><c>paths.runtimeDir</c>: volatile (sockets, status.json). systemd's RuntimeDirectory=bastion.</summary>
    public string RuntimeDir { get; init; } = DefaultRuntimeDir;
}

public enum LogFormat { Text, Json }

public enum LogLevelSetting { Trace, Debug, Information, Warning, Error }

/// <summary><c>logging:</c></summary>
public sealed record LoggingConfig
{
    public LogLevelSetting Level { get; init; } = LogLevelSetting.Information;
    public LogFormat Format { get; init; } = LogFormat.Text;
}

/// <summary><c>supervision:</c> defaults for every supervised component.</summary>
public sealed record SupervisionConfig
{
    public BackoffConfig Backoff { get; init; } = new();

    /// <summary>
    /// How long SIGTERM waits for all components to stop before the daemon exits anyway; also the bound of a
    /// reload's stops. At most <see cref="MaxStopTimeout"/>; keep it under systemd's TimeoutStopSec (30s in the unit).
    /// </summary>
    public TimeSpan StopTimeout { get; init; } = TimeSpan.FromSeconds(10);

    public static readonly TimeSpan MaxStopTimeout = TimeSpan.FromMinutes(5);
}

/// <summary>Exponential backoff with full jitter; <c>resetAfter</c> of stable running forgets past failures.</summary>
public sealed record BackoffConfig
{
    /// <summary>The longest any backoff setting may be: a retry a day apart is as good as none.</summary>
    public static readonly TimeSpan Longest = TimeSpan.FromDays(1);

    public TimeSpan Initial { get; init; } = TimeSpan.FromSeconds(1);
    public TimeSpan Max { get; init; } = TimeSpan.FromSeconds(60);
    public TimeSpan ResetAfter { get; init; } = TimeSpan.FromSeconds(60);
}

/// <summary>
/// <c>checks:</c> a named TCP health check ("is sshd answering with its banner?"). The VNC fallback watches one.
/// </summary>
public sealed record CheckConfig
{
    public required string Name { get; init; }
    public required Endpoint Endpoint { get; init; }

    /// <summary>Banner prefix the peer must send first (e.g. <c>SSH-2.0-</c>); null = a TCP connect is enough.</summary>
    public string? Expect { get; init; }

    public TimeSpan Interval { get; init; } = TimeSpan.FromSeconds(5);
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(3);

    /// <summary>Consecutive failures before the check is Failed (before that it is Degraded).</summary>
    public int Failures { get; init; } = 3;
}

public enum TunnelKind { Local, Remote, Dynamic }

public enum TunnelVia { Direct, Tor }

/// <summary><c>tunnels:</c> one SSH forward (-L, -R or -D).</summary>
public sealed record TunnelConfig
{
    public required string Name { get; init; }
    public required TunnelKind Kind { get; init; }
    public required SshServerConfig Server { get; init; }

    /// <summary>local/dynamic: the local listen address; remote: the address the SSH server binds.</summary>
    public required Endpoint Bind { get; init; }

    /// <summary>local: where the server connects to; remote: the local target; dynamic: none.</summary>
    public Endpoint? Target { get; init; }

    public TunnelVia Via { get; init; } = TunnelVia.Direct;

    /// <summary>SOCKS5 proxy for <c>via: tor</c> until the managed tor provides one.</summary>
    public Endpoint? Socks { get; init; }

    public ProbeConfig Probe { get; init; } = new();

    /// <summary><c>limits</c>: connections held at once, in total and per source.</summary>
    public TunnelLimitsConfig Limits { get; init; } = new();

    /// <summary>
    /// <c>exposeBeyondLoopback</c>: a local/dynamic bind on an address other than loopback is allowed only with this:
    /// anyone who reaches that address uses the tunnel without authentication (a dynamic one is a SOCKS proxy into the
    /// server's network).
    /// </summary>
    public bool ExposeBeyondLoopback { get; init; }

    /// <summary>Per-tunnel backoff; null = <c>supervision.backoff</c>.</summary>
    public BackoffConfig? Backoff { get; init; }
}

/// <summary>
/// <c>tunnels[].limits</c>: past either limit a new connection is refused at once and counted (status shows
/// <c>refusedTunnelLimit</c> / <c>refusedSourceLimit</c>). A source is the connecting user (uid) for a connection
/// from this machine, else the client's address: one local user cannot use up another's share.
/// </summary>
public sealed record TunnelLimitsConfig
{
    public int Connections { get; init; } = 256;
    public int PerSource { get; init; } = 32;
}

/// <summary><c>tunnels[].server</c></summary>
public sealed record SshServerConfig
{
    public required string Host { get; init; }
    public int Port { get; init; } = 22;
    public required string User { get; init; }

    /// <summary>OpenSSH private key (ed25519/ecdsa/rsa); must be private (0600).</summary>
    public required string Identity { get; init; }

    public required HostKeyConfig HostKey { get; init; }
}

/// <summary>
/// <c>tunnels[].server.hostKey</c>: host authentication is mandatory: at least one of pinned fingerprints,
/// a known_hosts file or a host CA key.
/// </summary>
public sealed record HostKeyConfig
{
    /// <summary><c>SHA256:</c> fingerprints, as <c>ssh-keygen -lf</c> prints them.</summary>
    public EquatableArray<string> Fingerprints { get; init; } = [];
    public string? KnownHosts { get; init; }

    /// <summary>A host CA public key line (<c>ssh-ed25519 AAAA…</c>).</summary>
    public string? Ca { get; init; }
}

/// <summary>Liveness probe: needs an answer from the far end.</summary>
public sealed record ProbeConfig
{
    public TimeSpan Interval { get; init; } = TimeSpan.FromSeconds(10);
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(5);
    public int Failures { get; init; } = 2;
}

/// <summary><c>onion:</c> the managed (or an existing) tor and the onion services it publishes.</summary>
public sealed record OnionConfig
{
    public TorConfig Tor { get; init; } = new();
    public EquatableArray<OnionServiceConfig> Services { get; init; } = [];
}

/// <summary><c>onion.tor</c>: either a managed tor (<c>executable</c>) or an existing one (<c>control</c>).</summary>
public sealed record TorConfig
{
    public string Executable { get; init; } = "/usr/bin/tor";

    /// <summary>
    /// Control port of an existing tor; when set, Bastion does not start its own (<see cref="SocksPort"/> should then name
    /// that tor's SocksPort: <c>via: tor</c> tunnels use it). Authenticated with its cookie (SAFECOOKIE when offered).
    /// </summary>
    public Endpoint? Control { get; init; }

    /// <summary>Debian's system tor writes its control cookie here (<c>CookieAuthFile</c> in /usr/share/tor/tor-service-defaults-torrc).</summary>
    public const string DefaultCookieFile = "/run/tor/control.authcookie";

    /// <summary>
    /// With <see cref="Control"/>: the cookie file of that tor. Taken from the config, never from what the port names
    /// (whoever listens there could name any file); it must be a regular 32-byte file owned by root, the tor user or
    /// bastiond's user. Default <see cref="DefaultCookieFile"/>.
    /// </summary>
    public string CookieFile { get; init; } = DefaultCookieFile;

    /// <summary>
    /// Not tor's usual 9050 (a system tor, Debian's tor.service, holds it) nor 9150 (Tor Browser): Bastion's tor must
    /// start even when the machine already runs one, and a port clash on the worst day is the last thing an admin needs.
    /// </summary>
    public const int DefaultSocksPort = 9350;

    /// <summary>SocksPort of the managed tor (also used by <c>via: tor</c> tunnels). Default 127.0.0.1:9350.</summary>
    public Endpoint SocksPort { get; init; } = new("127.0.0.1", DefaultSocksPort);

    /// <summary>Extra torrc lines, appended verbatim (the lab and tests add the private-network lines here).</summary>
    public EquatableArray<string> ExtraConfig { get; init; } = [];
}

/// <summary><c>onion.services[]</c></summary>
public sealed record OnionServiceConfig
{
    public required string Name { get; init; }
    public EquatableArray<OnionPortConfig> Ports { get; init; } = [new OnionPortConfig(22, new Endpoint("127.0.0.1", 22))];
    public EquatableArray<OnionClientConfig> AuthorizedClients { get; init; } = [];
}

public sealed record OnionPortConfig(int Virtual, Endpoint Target);

/// <summary>A v3 client authorization entry: a name and a base32 x25519 public key.</summary>
public sealed record OnionClientConfig(string Name, string PublicKey);

public enum VncMode { Off, Always, Fallback }

/// <summary><c>vnc.stockViewers</c>: what the desktop's endpoint does with a viewer that speaks plain RFB (no client certificate).</summary>
public enum VncStockViewers
{
    /// <summary>Refuse it with an RFB failure reason that says how to connect with a client certificate (the default).</summary>
    Explain,

    /// <summary>
    /// Offer VeNCrypt X509Vnc: TLS with the endpoint's server certificate, then the desktop's VNC password. Drops the
    /// client-certificate factor; opt-in.
    /// </summary>
    X509Vnc,
}

/// <summary><c>vnc:</c> the emergency desktop.</summary>
public sealed record VncConfig
{
    public VncMode Mode { get; init; } = VncMode.Off;
    public int Display { get; init; } = 5;
    public string Geometry { get; init; } = "1280x800";
    public string Executable { get; init; } = "/usr/bin/Xvnc";

    /// <summary>
    /// The desktop's session command; empty (the default) = the built-in emergency console (<c>Bastion.Vnc.EmergencyConsole</c>:
    /// a full-screen xterm running the system login, font sized to the geometry, Ctrl+Shift+N for a second console).
    /// </summary>
    public EquatableArray<string> Session { get; init; } = [];

    /// <summary>VNC password file (vncpasswd format); generated in the state dir when null. Must be private.</summary>
    public string? PasswordFile { get; init; }

    /// <summary>Name of the <c>tls:</c> endpoint that fronts the desktop.</summary>
    public string? Endpoint { get; init; }

    /// <summary><c>stockViewers</c>: <c>explain</c> (default) or <c>x509vnc</c> (VeNCrypt X509Vnc, no client certificate).</summary>
    public VncStockViewers StockViewers { get; init; } = VncStockViewers.Explain;

    public VncFallbackConfig Fallback { get; init; } = new();
}

/// <summary><c>vnc.fallback</c>: when sshd fails its check this many times, raise VNC; lower it after the grace period.</summary>
public sealed record VncFallbackConfig
{
    /// <summary>Name of the <c>checks:</c> entry that watches sshd.</summary>
    public string? Check { get; init; }
    public int Failures { get; init; } = 3;
    public TimeSpan Grace { get; init; } = TimeSpan.FromMinutes(5);
}

public enum PkiAlgorithm { EcdsaP256, EcdsaP384 }

/// <summary><c>pki:</c> the private session CA.</summary>
public sealed record PkiConfig
{
    /// <summary>Null = <c>{paths.stateDir}/pki</c>.</summary>
    public string? Dir { get; init; }
    public PkiAlgorithm Algorithm { get; init; } = PkiAlgorithm.EcdsaP256;
    public TimeSpan CaLifetime { get; init; } = TimeSpan.FromDays(365);
    public TimeSpan ServerLifetime { get; init; } = TimeSpan.FromDays(30);
    public TimeSpan ClientLifetime { get; init; } = TimeSpan.FromDays(7);
    public TimeSpan RenewBefore { get; init; } = TimeSpan.FromDays(3);
}

public enum TlsMode { Listen, Dial }

/// <summary><c>tls[]</c>: a mutual-TLS endpoint that relays to a backend.</summary>
public sealed record TlsEndpointConfig
{
    public required string Name { get; init; }
    public required TlsMode Mode { get; init; }

    /// <summary>listen: the local address to accept on; dial: the admin's host:port to phone home to.</summary>
    public required Endpoint Address { get; init; }

    /// <summary>dial: how often to retry until a listener accepts.</summary>
    public TimeSpan Interval { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// A TCP endpoint or <c>unix:/path</c>. Null only for the endpoint that <c>vnc.endpoint</c> names (with vnc.mode not
    /// off): it relays to the emergency desktop's socket, which Bastion places itself.
    /// </summary>
    public BackendAddress? Backend { get; init; }

    public required string Certificate { get; init; }

    /// <summary>Private key of <see cref="Certificate"/>; must be private (0600).</summary>
    public required string Key { get; init; }

    /// <summary>The session CA certificate; null = the <c>pki:</c> CA.</summary>
    public string? Ca { get; init; }

    /// <summary>Optional SPKI SHA-256 pins of acceptable peers (base64).</summary>
    public EquatableArray<string> Pins { get; init; } = [];

    public int MaxFailedHandshakesPerMinute { get; init; } = 10;

    /// <summary>dial: sessions (and dials in progress) at once; the endpoint keeps dialling while fewer are open.</summary>
    public int MaxSessions { get; init; } = 4;

    /// <summary>dial: a session with no byte either way for this long is closed (a frozen listener frees its slot).</summary>
    public TimeSpan IdleTimeout { get; init; } = TimeSpan.FromHours(1);
}

/// <summary>A relay backend: TCP or a Unix socket path.</summary>
public sealed record BackendAddress(Endpoint? Tcp, string? UnixPath)
{
    public override string ToString() => UnixPath is not null ? "unix:" + UnixPath : Tcp!.ToString();
}

public enum BusKind { System, Session, Address, None }

/// <summary><c>dbus:</c> which bus the API is exported on.</summary>
public sealed record DbusConfig
{
    public BusKind Bus { get; init; } = BusKind.System;

    /// <summary>With <c>bus: address</c>: an explicit D-Bus address (tests).</summary>
    public string? Address { get; init; }

    /// <summary>
    /// <c>adminGroup</c>: besides root, the members of this local group may make mutating calls (Reload, RestartComponent,
    /// ControlVnc); the daemon checks every such caller's uid itself, whatever the bus policy let through.
    /// </summary>
    public string AdminGroup { get; init; } = "bastion-admin";
}

/// <summary><c>metrics:</c> where GET /metrics is served (Prometheus text format, or OpenMetrics when asked for).</summary>
public sealed record MetricsConfig
{
    /// <summary><c>metrics.listen</c>: <c>host:port</c> or <c>unix:/path</c>.</summary>
    public required BackendAddress Listen { get; init; }

    /// <summary><c>metrics.includeAddresses</c>: also export onion addresses (<c>bastion_onion_info</c>). Default false.</summary>
    public bool IncludeAddresses { get; init; }
}

/// <summary>
/// <c>fleet:</c> this node in a fleet (issue #18). This version creates the node key only; it does not connect to a
/// broker yet.
/// </summary>
public sealed record FleetConfig
{
    /// <summary><c>fleet.node</c>: this server's name in the fleet (a NATS subject token).</summary>
    public required string Node { get; init; }

    /// <summary><c>fleet.servers</c>: NATS URLs (nats://, tls://, ws://, wss://).</summary>
    public required EquatableArray<string> Servers { get; init; }

    /// <summary>
    /// <c>fleet.credentials</c>: optional broker credentials file (a secret: owned by bastiond's user, 0600): a NATS .creds
    /// file (user JWT + nkey seed), or two lines, the user name and then the password.
    /// </summary>
    public string? Credentials { get; init; }

    /// <summary>
    /// <c>fleet.ca</c>: optional PEM CA certificate(s) the broker's TLS certificate must chain to (instead of the system
    /// store); TLS is then required on every server, and the certificate must name the server's host.
    /// </summary>
    public string? Ca { get; init; }

    /// <summary><c>fleet.allowedSigners</c>: OpenSSH allowed_signers file: which admin keys may command this node.</summary>
    public required string AllowedSigners { get; init; }

    /// <summary><c>fleet.statusInterval</c>: how often the status is published. Default 30s.</summary>
    public TimeSpan StatusInterval { get; init; } = TimeSpan.FromSeconds(30);
}
