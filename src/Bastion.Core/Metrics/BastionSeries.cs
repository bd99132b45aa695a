using System.Globalization;
using Bastion.Supervision;

namespace Bastion.Metrics;

/// <summary>
/// Turns one <see cref="MetricsReading"/> into bastiond's metric families. Component counters come from the details the
/// components already publish in status (the detail each series reads is named in its help and in the README); a
/// series whose detail is absent or not a number is left out rather than guessed. No secret is in any detail read here,
/// and the only address (an onion service's) is exported only with <c>metrics.includeAddresses</c>.
/// </summary>
public static class BastionSeries
{
    public const string CheckKind = "check";
    public const string TunnelKind = "tunnel";
    public const string OnionKind = "onion";
    public const string VncKind = "vnc";
    public const string TlsKind = "tls";

    private static readonly ComponentState[] States = Enum.GetValues<ComponentState>();

    /// <summary>Lowercase state names, as label values (<c>running</c>, <c>standby</c>, …).</summary>
    public static string StateLabel(ComponentState state) => state switch
    {
        ComponentState.Starting => "starting",
        ComponentState.Running => "running",
        ComponentState.Degraded => "degraded",
        ComponentState.Backoff => "backoff",
        ComponentState.Stopping => "stopping",
        ComponentState.Stopped => "stopped",
        ComponentState.Failed => "failed",
        ComponentState.Standby => "standby",
        _ => state.ToString().ToLowerInvariant(),
    };

    /// <summary>Doing its job: Running, or Standby on purpose (the emergency desktop while sshd answers).</summary>
    public static bool IsUp(ComponentState state) => state is ComponentState.Running or ComponentState.Standby;

    public static IReadOnlyList<MetricFamily> Build(MetricsReading reading)
    {
        var families = new List<MetricFamily>
        {
            new MetricFamily("bastion_build_info", MetricType.Gauge, "bastiond's version (always 1).")
                .Add(1, ("version", reading.Version)),
            new MetricFamily("process_start_time_seconds", MetricType.Gauge, "When bastiond started, in seconds since the Unix epoch.")
                .Add(Seconds(reading.StartedAt)),
            new MetricFamily("bastion_config_last_reload_successful", MetricType.Gauge,
                    "1 if the last reload was applied (or none was asked for since start), 0 if it was refused and bastiond runs on the last good config.")
                .Add(reading.Reload.LastSuccessful ? 1 : 0),
            new MetricFamily("bastion_config_last_reload_success_timestamp_seconds", MetricType.Gauge,
                    "When the running config was loaded (start or last applied reload), in seconds since the Unix epoch.")
                .Add(Seconds(reading.Reload.LastSuccessAt)),
        };
        families.AddRange(ComponentFamilies(reading.Components));
        families.AddRange(CheckFamilies(reading));
        families.AddRange(TunnelFamilies(reading.Components));
        families.AddRange(TlsFamilies(reading.Components));
        families.AddRange(OnionFamilies(reading));
        families.AddRange(VncFamilies(reading.Components));
        return families;
    }

    private static IEnumerable<MetricFamily> ComponentFamilies(IReadOnlyList<ComponentReading> components)
    {
        var state = new MetricFamily("bastion_component_state", MetricType.Gauge,
            "1 for the state the component is in, 0 for the others (one series per state).");
        var up = new MetricFamily("bastion_component_up", MetricType.Gauge,
            "1 while the component does its job (running, or standby on purpose), else 0.");
        var since = new MetricFamily("bastion_component_state_since_seconds", MetricType.Gauge,
            "When the component entered its current state, in seconds since the Unix epoch.");
        var starts = new MetricFamily("bastion_component_starts_total", MetricType.Counter,
            "Attempts the supervisor started for this component instance (restarts + 1; a reload that changes it starts again at 1).");
        foreach (var c in components)
        {
            foreach (var s in States)
            {
                state.Add(s == c.State ? 1 : 0, ("kind", c.Kind), ("name", c.Name), ("state", StateLabel(s)));
            }
            up.Add(IsUp(c.State) ? 1 : 0, ("kind", c.Kind), ("name", c.Name));
            since.Add(Seconds(c.Since), ("kind", c.Kind), ("name", c.Name));
            starts.Add(c.Starts, ("kind", c.Kind), ("name", c.Name));
        }
        return [state, up, since, starts];
    }

    private static IEnumerable<MetricFamily> CheckFamilies(MetricsReading reading)
    {
        var lastSuccess = new MetricFamily("bastion_check_last_success_timestamp_seconds", MetricType.Gauge,
            "When the check last passed, in seconds since the Unix epoch; 0 if it has not passed since bastiond started.");
        var failures = new MetricFamily("bastion_check_consecutive_failures", MetricType.Gauge,
            "Probes in a row that failed (detail consecutiveFailures).");
        var probe = new MetricFamily("bastion_check_probe_seconds", MetricType.Gauge,
            "Duration of the last probe (detail lastProbeMs).");
        foreach (var c in Of(reading.Components, CheckKind))
        {
            lastSuccess.Add(reading.CheckLastSuccess.TryGetValue(c.Name, out var at) ? Seconds(at) : 0, ("name", c.Name));
            AddDetail(failures, c, "consecutiveFailures", 1, ("name", c.Name));
            AddDetail(probe, c, "lastProbeMs", 0.001, ("name", c.Name));
        }
        return [lastSuccess, failures, probe];
    }

    private static IEnumerable<MetricFamily> TunnelFamilies(IReadOnlyList<ComponentReading> components)
    {
        var bytes = new MetricFamily("bastion_tunnel_bytes_total", MetricType.Counter,
            "Bytes relayed through the tunnel's forward: direction in = towards the client that connected (detail bytesIn), out = from it (detail bytesOut).");
        var connections = new MetricFamily("bastion_tunnel_connections_total", MetricType.Counter,
            "Connections relayed through the tunnel, without its own end-to-end checks (detail connections).");
        var active = new MetricFamily("bastion_tunnel_active_connections", MetricType.Gauge,
            "Connections open through the tunnel now (detail activeConnections).");
        var reconnects = new MetricFamily("bastion_tunnel_reconnects_total", MetricType.Counter,
            "SSH sessions the tunnel had to open again after the first (detail reconnects).");
        var probe = new MetricFamily("bastion_tunnel_probe_seconds", MetricType.Gauge,
            "Round trip of the last keepalive probe over the tunnel's SSH session (detail lastProbeMs).");
        foreach (var c in Of(components, TunnelKind))
        {
            AddDetail(bytes, c, "bytesIn", 1, ("name", c.Name), ("direction", "in"));
            AddDetail(bytes, c, "bytesOut", 1, ("name", c.Name), ("direction", "out"));
            AddDetail(connections, c, "connections", 1, ("name", c.Name));
            AddDetail(active, c, "activeConnections", 1, ("name", c.Name));
            AddDetail(reconnects, c, "reconnects", 1, ("name", c.Name));
            AddDetail(probe, c, "lastProbeMs", 0.001, ("name", c.Name));
        }
        return [bytes, connections, active, reconnects, probe];
    }

    /// <summary>The TLS endpoint's refusal details (one per HandshakeFailure) and the result label each becomes.</summary>
    private static readonly (string Detail, string Result)[] RefusalClasses =
    [
        ("refusedSilent", "silent"),
        ("refusedProtocol", "protocol"),
        ("refusedCertificate", "certificate"),
        ("refusedPasswordLimit", "password_limit"),
    ];

    private static IEnumerable<MetricFamily> TlsFamilies(IReadOnlyList<ComponentReading> components)
    {
        var handshakes = new MetricFamily("bastion_tls_handshakes_total", MetricType.Counter,
            "Connections to the TLS endpoint by outcome: accepted, or refused by class: silent (sent nothing in time), protocol (not TLS, no certificate, a protocol or cipher not allowed), certificate (another CA, revoked, expired, wrong role), password_limit (a certificate past its wrong VNC passwords). Details accepted and refused<Class>; an endpoint without the classes gives result refused.");
        var active = new MetricFamily("bastion_tls_active_connections", MetricType.Gauge,
            "Connections open through the TLS endpoint now (detail activeConnections).");
        foreach (var c in Of(components, TlsKind))
        {
            AddDetail(handshakes, c, "accepted", 1, ("endpoint", c.Name), ("result", "accepted"));
            if (c.Details.ContainsKey("refusedSilent"))
            {
                foreach (var (detail, result) in RefusalClasses)
                {
                    AddDetail(handshakes, c, detail, 1, ("endpoint", c.Name), ("result", result));
                }
            }
            else
            {
                AddDetail(handshakes, c, "refused", 1, ("endpoint", c.Name), ("result", "refused"));
            }
            AddDetail(active, c, "activeConnections", 1, ("endpoint", c.Name));
        }
        return [handshakes, active];
    }

    private static IEnumerable<MetricFamily> OnionFamilies(MetricsReading reading)
    {
        var selfTest = new MetricFamily("bastion_onion_selftest_last_success_timestamp_seconds", MetricType.Gauge,
            "When the onion service last answered its self-test through tor, in seconds since the Unix epoch; 0 if not since bastiond started.");
        var uploads = new MetricFamily("bastion_onion_descriptor_uploads_total", MetricType.Counter,
            "Descriptor uploads tor reported for the onion service since its component was built (detail uploads).");
        var info = new MetricFamily("bastion_onion_info", MetricType.Gauge,
            "The onion service's address (always 1; only with metrics.includeAddresses: true).");
        foreach (var c in Of(reading.Components, OnionKind))
        {
            selfTest.Add(reading.OnionLastSelfTestSuccess.TryGetValue(c.Name, out var at) ? Seconds(at) : 0, ("name", c.Name));
            AddDetail(uploads, c, "uploads", 1, ("name", c.Name));
            if (reading.IncludeAddresses && c.Details.TryGetValue("address", out var address) && address.EndsWith(".onion", StringComparison.Ordinal))
            {
                info.Add(1, ("name", c.Name), ("address", address));
            }
        }
        return reading.IncludeAddresses ? [selfTest, uploads, info] : [selfTest, uploads];
    }

    private static IEnumerable<MetricFamily> VncFamilies(IReadOnlyList<ComponentReading> components)
    {
        var raised = new MetricFamily("bastion_vnc_raised", MetricType.Gauge,
            "1 while the emergency desktop is raised (detail desired: raised), 0 while lowered; absent without vnc:.");
        var clients = new MetricFamily("bastion_vnc_clients", MetricType.Gauge,
            "Viewers connected to the emergency desktop through its TLS endpoint (detail clients).");
        foreach (var c in Of(components, VncKind))
        {
            if (c.Details.TryGetValue("desired", out var desired))
            {
                raised.Add(desired == "raised" ? 1 : 0);
            }
            AddDetail(clients, c, "clients", 1);
        }
        return [raised, clients];
    }

    private static IEnumerable<ComponentReading> Of(IEnumerable<ComponentReading> components, string kind) =>
        components.Where(c => c.Kind == kind);

    /// <summary>Adds the detail as a sample when it is a finite number (times <paramref name="scale"/>); leaves it out otherwise.</summary>
    private static void AddDetail(MetricFamily family, ComponentReading c, string key, double scale, params ReadOnlySpan<(string Name, string Value)> labels)
    {
        if (c.Details.TryGetValue(key, out var text)
            && double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value)
            && double.IsFinite(value))
        {
            family.Add(value * scale, labels);
        }
    }

    private static double Seconds(DateTimeOffset at) => at.ToUnixTimeMilliseconds() / 1000.0;
}
