using Bastion.Metrics;
using Bastion.Supervision;

namespace Bastion.Tests.Metrics;

public sealed class BastionSeriesTests
{
    private static readonly DateTimeOffset Start = new(2026, 12, 6, 12, 0, 0, TimeSpan.Zero);

    private static ComponentReading C(string kind, string name, ComponentState state, params (string Key, string Value)[] details) =>
        new(kind, name, state, Start.AddSeconds(30), 3, details.ToDictionary(d => d.Key, d => d.Value));

    private static MetricsReading Reading(params ComponentReading[] components) => new()
    {
        Version = "1.2.3",
        StartedAt = Start,
        Components = components,
        Reload = new ReloadReading(true, Start),
    };

    private static string Text(MetricsReading reading) =>
        Exposition.Write(BastionSeries.Build(reading), ExpositionFormat.PrometheusText);

    private static string[] Lines(MetricsReading reading) =>
        Text(reading).Split('\n').Where(l => l.Length > 0 && !l.StartsWith('#')).ToArray();

    [Fact]
    public void Every_component_has_one_state_series_per_state_with_one_set_to_1()
    {
        var lines = Lines(Reading(C("tunnel", "db", ComponentState.Backoff)));

        var states = lines.Where(l => l.StartsWith("bastion_component_state{", StringComparison.Ordinal)).ToList();
        Assert.Equal(Enum.GetValues<ComponentState>().Length, states.Count);
        Assert.Equal(["bastion_component_state{kind=\"tunnel\",name=\"db\",state=\"backoff\"} 1"], states.Where(l => l.EndsWith(" 1", StringComparison.Ordinal)));
        Assert.Contains("bastion_component_up{kind=\"tunnel\",name=\"db\"} 0", lines);
        Assert.Contains("bastion_component_state_since_seconds{kind=\"tunnel\",name=\"db\"} " + Start.AddSeconds(30).ToUnixTimeSeconds(), lines);
        Assert.Contains("bastion_component_starts_total{kind=\"tunnel\",name=\"db\"} 3", lines);
    }

    [Theory]
    [InlineData(ComponentState.Running, 1)]
    [InlineData(ComponentState.Standby, 1)]
    [InlineData(ComponentState.Degraded, 0)]
    [InlineData(ComponentState.Starting, 0)]
    [InlineData(ComponentState.Failed, 0)]
    [InlineData(ComponentState.Stopped, 0)]
    public void Up_means_running_or_standby_on_purpose(ComponentState state, int up)
    {
        Assert.Contains($"bastion_component_up{{kind=\"vnc\",name=\"desktop\"}} {up}", Lines(Reading(C("vnc", "desktop", state))));
    }

    [Fact]
    public void Tunnel_counters_come_from_the_tunnel_details()
    {
        var lines = Lines(Reading(C("tunnel", "db", ComponentState.Running,
            ("bytesIn", "1000"), ("bytesOut", "250"), ("connections", "7"), ("activeConnections", "2"), ("reconnects", "1"), ("lastProbeMs", "12"))));

        Assert.Contains("bastion_tunnel_bytes_total{name=\"db\",direction=\"in\"} 1000", lines);
        Assert.Contains("bastion_tunnel_bytes_total{name=\"db\",direction=\"out\"} 250", lines);
        Assert.Contains("bastion_tunnel_connections_total{name=\"db\"} 7", lines);
        Assert.Contains("bastion_tunnel_active_connections{name=\"db\"} 2", lines);
        Assert.Contains("bastion_tunnel_reconnects_total{name=\"db\"} 1", lines);
        Assert.Contains("bastion_tunnel_probe_seconds{name=\"db\"} 0.012", lines);
    }

    [Fact]
    public void A_detail_that_is_absent_or_not_a_number_leaves_its_series_out()
    {
        var lines = Lines(Reading(C("tunnel", "db", ComponentState.Starting, ("bytesIn", "-"), ("lastProbeMs", "NaN"))));

        Assert.DoesNotContain(lines, l => l.StartsWith("bastion_tunnel_", StringComparison.Ordinal));
    }

    [Fact]
    public void Tls_handshakes_are_split_by_result()
    {
        var lines = Lines(Reading(C("tls", "vnc", ComponentState.Running, ("accepted", "5"), ("refused", "9"), ("activeConnections", "1"))));

        Assert.Contains("bastion_tls_handshakes_total{endpoint=\"vnc\",result=\"accepted\"} 5", lines);
        Assert.Contains("bastion_tls_handshakes_total{endpoint=\"vnc\",result=\"refused\"} 9", lines);
        Assert.Contains("bastion_tls_active_connections{endpoint=\"vnc\"} 1", lines);
    }

    [Fact]
    public void Tls_refusals_are_split_by_class_when_the_endpoint_publishes_them()
    {
        var lines = Lines(Reading(C("tls", "vnc", ComponentState.Running, ("accepted", "5"), ("refused", "9"), ("refusedSilent", "4"),
            ("refusedProtocol", "2"), ("refusedCertificate", "3"), ("refusedPasswordLimit", "0"))));

        Assert.Contains("bastion_tls_handshakes_total{endpoint=\"vnc\",result=\"accepted\"} 5", lines);
        Assert.Contains("bastion_tls_handshakes_total{endpoint=\"vnc\",result=\"silent\"} 4", lines);
        Assert.Contains("bastion_tls_handshakes_total{endpoint=\"vnc\",result=\"protocol\"} 2", lines);
        Assert.Contains("bastion_tls_handshakes_total{endpoint=\"vnc\",result=\"certificate\"} 3", lines);
        Assert.Contains("bastion_tls_handshakes_total{endpoint=\"vnc\",result=\"password_limit\"} 0", lines);
        Assert.DoesNotContain(lines, l => l.Contains("result=\"refused\"", StringComparison.Ordinal));
    }

    [Fact]
    public void The_onion_address_is_exported_only_when_asked_for()
    {
        const string address = "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz23.onion";
        var onion = C("onion", "ssh", ComponentState.Running, ("address", address), ("state", "reachable"));

        Assert.DoesNotContain(address, Text(Reading(onion)), StringComparison.Ordinal);
        Assert.Contains($"bastion_onion_info{{name=\"ssh\",address=\"{address}\"}} 1", Lines(Reading(onion) with { IncludeAddresses = true }));
    }

    [Fact]
    public void Last_successes_are_their_times_and_0_when_none_was_seen()
    {
        var reading = Reading(C("check", "sshd", ComponentState.Failed), C("check", "web", ComponentState.Running), C("onion", "ssh", ComponentState.Degraded)) with
        {
            CheckLastSuccess = new Dictionary<string, DateTimeOffset> { ["web"] = Start.AddSeconds(90.5) },
        };

        var lines = Lines(reading);

        Assert.Contains("bastion_check_last_success_timestamp_seconds{name=\"sshd\"} 0", lines);
        Assert.Contains("bastion_check_last_success_timestamp_seconds{name=\"web\"} " + (Start.ToUnixTimeSeconds() + 90.5).ToString(System.Globalization.CultureInfo.InvariantCulture), lines);
        Assert.Contains("bastion_onion_selftest_last_success_timestamp_seconds{name=\"ssh\"} 0", lines);
    }

    [Fact]
    public void The_vnc_series_follow_the_desktops_details_and_are_absent_without_vnc()
    {
        Assert.DoesNotContain(Lines(Reading()), l => l.StartsWith("bastion_vnc_", StringComparison.Ordinal));

        var lines = Lines(Reading(C("vnc", "desktop", ComponentState.Running, ("desired", "raised"), ("clients", "2"))));

        Assert.Contains("bastion_vnc_raised 1", lines);
        Assert.Contains("bastion_vnc_clients 2", lines);
        Assert.Contains("bastion_vnc_raised 0", Lines(Reading(C("vnc", "desktop", ComponentState.Standby, ("desired", "lowered")))));
    }

    [Fact]
    public void The_daemon_series_show_version_start_and_the_last_reload()
    {
        var lines = Lines(Reading() with { Reload = new ReloadReading(false, Start.AddMinutes(5)) });

        Assert.Contains("bastion_build_info{version=\"1.2.3\"} 1", lines);
        Assert.Contains("process_start_time_seconds " + Start.ToUnixTimeSeconds(), lines);
        Assert.Contains("bastion_config_last_reload_successful 0", lines);
        Assert.Contains("bastion_config_last_reload_success_timestamp_seconds " + Start.AddMinutes(5).ToUnixTimeSeconds(), lines);
    }

    [Fact]
    public void A_name_with_quotes_cannot_break_out_of_its_label()
    {
        var text = Text(Reading(C("tunnel", "a\"} 1\nevil_metric 1", ComponentState.Running)));

        Assert.DoesNotContain("\nevil_metric", text, StringComparison.Ordinal);
    }

    [Fact]
    public void No_family_name_appears_twice()
    {
        var families = BastionSeries.Build(Reading(C("tunnel", "db", ComponentState.Running), C("onion", "ssh", ComponentState.Running)) with { IncludeAddresses = true });

        Assert.Equal(families.Count, families.Select(f => f.Name).Distinct().Count());
    }
}

public sealed class OnionSelfTestsTests
{
    private static readonly DateTimeOffset T = new(2026, 12, 6, 12, 0, 0, TimeSpan.Zero);

    private static ComponentReading Onion(string state, DateTimeOffset lastSelfTest) =>
        new("onion", "ssh", ComponentState.Running, T, 1,
            new Dictionary<string, string> { ["state"] = state, ["lastSelfTest"] = lastSelfTest.ToString("O", System.Globalization.CultureInfo.InvariantCulture) });

    [Fact]
    public void A_failed_self_test_keeps_the_time_of_the_last_passed_one()
    {
        var memory = new OnionSelfTests();

        Assert.Empty(memory.Observe([Onion("published", T)]));
        Assert.Equal(T.AddMinutes(1), memory.Observe([Onion("reachable", T.AddMinutes(1))])["ssh"]);
        Assert.Equal(T.AddMinutes(1), memory.Observe([Onion("unreachable", T.AddMinutes(2))])["ssh"]);
        Assert.Equal(T.AddMinutes(3), memory.Observe([Onion("reachable", T.AddMinutes(3))])["ssh"]);
    }

    [Fact]
    public void A_removed_onion_service_is_forgotten()
    {
        var memory = new OnionSelfTests();
        memory.Observe([Onion("reachable", T)]);

        Assert.Empty(memory.Observe([]));
    }
}
