using Bastion.Config;
using static Bastion.Tests.Config.ConfigTestSupport;

namespace Bastion.Tests.Config;

/// <summary>One test per kind of mistake, asserting the exact line the admin reads.</summary>
public sealed class ConfigErrorTests
{
    private const string F = ConfigFile;

    [Fact]
    public void Unknown_key_gets_a_did_you_mean_suggestion()
    {
        var error = SingleError("""
            paths:
              statedir: /srv/bastion
            """);

        Assert.Equal($"{F}:2:3: paths.statedir: unknown key — did you mean 'stateDir'?", error);
    }

    [Fact]
    public void Misspelt_section_gets_a_did_you_mean_suggestion()
    {
        Assert.Equal($"{F}:1:1: tunels: unknown key — did you mean 'tunnels'?", SingleError("tunels: []"));
    }

    [Fact]
    public void Unknown_key_without_a_near_miss_lists_the_valid_keys()
    {
        var error = SingleError("""
            logging:
              colour: true
            """);

        Assert.Equal($"{F}:2:3: logging.colour: unknown key — valid keys here: level, format", error);
    }

    [Fact]
    public void Key_written_one_level_too_high_says_where_it_belongs()
    {
        var error = SingleError(GoodTunnel + "\n    port: 2222");

        Assert.Equal($"{F}:12:5: tunnels[0].port: unknown key — move it under 'server:'", error);
    }

    [Fact]
    public void Duplicate_key_points_at_the_second_and_names_the_line_of_the_first()
    {
        var error = SingleError("""
            paths:
              stateDir: /srv/a
              runtimeDir: /run/a
              stateDir: /srv/b
            """);

        Assert.Equal($"{F}:4:3: paths.stateDir: is set twice (first on line 2) — keep one of them", error);
    }

    [Fact]
    public void Mapping_where_a_list_is_expected_is_a_type_error()
    {
        var error = SingleError("""
            checks:
              name: sshd
            """);

        Assert.Equal($"{F}:2:3: checks: expected a list, found a mapping (key: value lines) — write one '- item' line per entry, or [a, b] on one line", error);
    }

    [Fact]
    public void List_where_a_single_value_is_expected_is_a_type_error()
    {
        var error = SingleError("""
            logging:
              level: [debug]
            """);

        Assert.Equal($"{F}:2:10: logging.level: expected a single value, found a list — write one value after the colon (quote it if it starts with [ or {{)", error);
    }

    [Fact]
    public void Single_value_where_a_mapping_is_expected_is_a_type_error()
    {
        var error = SingleError("vnc: fallback");

        Assert.StartsWith($"{F}:1:6: vnc: expected a mapping (key: value lines), found a single value — indent its keys under it, one key: value per line (keys: mode, display,", error);
    }

    [Fact]
    public void Text_where_a_number_is_expected_is_reported()
    {
        var error = SingleError("""
            vnc:
              display: five
            """);

        Assert.Equal($"{F}:2:12: vnc.display: 'five' is not a whole number — write a number, 0..999", error);
    }

    [Fact]
    public void Port_out_of_range_is_reported()
    {
        var error = SingleError(GoodTunnel.Replace("user: bastion", "user: bastion\n      port: 70000", StringComparison.Ordinal));

        Assert.Equal($"{F}:7:13: tunnels[0].server.port: 70000 is out of range — use 1..65535", error);
    }

    [Fact]
    public void Missing_required_key_points_at_the_parent_mapping()
    {
        var error = SingleError(GoodTunnel.Replace("      user: bastion\n", "", StringComparison.Ordinal));

        Assert.Equal($"{F}:5:7: tunnels[0].server.user: is missing — add it, e.g. user: bastion", error);
    }

    [Fact]
    public void Required_key_written_without_a_value_is_reported_at_the_key()
    {
        var error = SingleError("""
            checks:
              - name:
                endpoint: 127.0.0.1:22
            """);

        Assert.Equal($"{F}:2:5: checks[0].name: has no value — add it, e.g. name: sshd", error);
    }

    [Fact]
    public void Empty_list_entry_is_reported()
    {
        var error = SingleError("""
            checks:
              -
            """);

        Assert.Equal($"{F}:2:4: checks[0]: is an empty list entry — fill it in or remove the '-' line", error);
    }

    [Fact]
    public void Duration_without_a_unit_is_reported_with_the_fix()
    {
        var error = SingleError("""
            supervision:
              stopTimeout: 10
            """);

        Assert.Equal($"{F}:2:16: supervision.stopTimeout: '10' has no unit — write e.g. 10s (units: ms, s, m, h, d)", error);
    }

    [Fact]
    public void Zero_duration_is_reported()
    {
        var error = SingleError("""
            supervision:
              stopTimeout: 0s
            """);

        Assert.Equal($"{F}:2:16: supervision.stopTimeout: 0s is zero — write a duration longer than zero, e.g. 10s, 1m30s or 500ms", error);
    }

    [Fact]
    public void Huge_duration_is_an_error_not_an_exception()
    {
        var error = SingleError("""
            supervision:
              stopTimeout: 1000000000d
            """);

        Assert.Equal($"{F}:2:16: supervision.stopTimeout: '1000000000d' is too large — write e.g. 10s, 1m30s or 500ms (units: ms, s, m, h, d)", error);
    }

    [Fact]
    public void Endpoint_without_a_port_is_reported_with_the_parser_message()
    {
        var error = SingleError("""
            checks:
              - name: sshd
                endpoint: localhost
            """);

        Assert.Equal($"{F}:3:15: checks[0].endpoint: 'localhost' has no port — write host:port, e.g. 127.0.0.1:2222", error);
    }

    [Fact]
    public void Endpoint_port_out_of_range_names_the_valid_range()
    {
        var error = SingleError("""
            checks:
              - name: sshd
                endpoint: 127.0.0.1:70000
            """);

        Assert.Equal($"{F}:3:15: checks[0].endpoint: port 70000 is out of range — use 1..65535", error);
    }

    [Fact]
    public void Bad_choice_lists_the_valid_ones_with_a_suggestion()
    {
        var error = SingleError(GoodTunnel.Replace("kind: local", "kind: lcoal", StringComparison.Ordinal));

        Assert.Equal($"{F}:3:11: tunnels[0].kind: 'lcoal' is not a valid kind — did you mean 'local'? use one of: local, remote, dynamic", error);
    }

    [Fact]
    public void Choices_are_lowercase_words_and_case_mistakes_are_pointed_out()
    {
        var error = SingleError("""
            logging:
              level: Debug
            """);

        Assert.Equal($"{F}:2:10: logging.level: 'Debug' is not a valid level — did you mean 'debug'? use one of: trace, debug, information, warning, error", error);
    }

    [Fact]
    public void Vnc_mode_off_is_a_word_not_a_yaml_boolean()
    {
        var config = LoadValid("""
            vnc:
              mode: off
            """);

        Assert.Equal(VncMode.Off, config.Vnc!.Mode);
        Assert.Equal($"{F}:2:9: vnc.mode: 'no' is not a valid mode — use one of: off, always, fallback", SingleError("vnc:\n  mode: no"));
    }

    [Fact]
    public void Number_where_text_is_expected_is_kept_as_text()
    {
        var config = LoadValid(GoodTunnel.Replace("user: bastion", "user: 1000", StringComparison.Ordinal));

        Assert.Equal("1000", config.Tunnels[0].Server.User);
    }

    [Fact]
    public void Name_outside_the_allowed_pattern_is_reported_with_the_rule()
    {
        var error = SingleError("""
            checks:
              - name: SSH Daemon
                endpoint: 127.0.0.1:22
            """);

        Assert.Equal($"{F}:2:11: checks[0].name: 'SSH Daemon' is not a valid name — use 1 to 63 lowercase letters, digits, '.', '_' or '-', starting with a letter or digit (^[a-z0-9][a-z0-9._-]{{0,62}}$), e.g. 'ssh-daemon'", error);
    }

    [Fact]
    public void Duplicate_name_points_at_the_second_and_names_the_first()
    {
        var error = SingleError("""
            checks:
              - name: sshd
                endpoint: 127.0.0.1:22
              - name: sshd
                endpoint: 127.0.0.1:2222
            """);

        Assert.Equal($"{F}:4:11: checks[1].name: 'sshd' is already used by checks[0] (line 2) — give each check its own name", error);
    }

    [Fact]
    public void Count_below_one_is_reported()
    {
        var error = SingleError("""
            checks:
              - name: sshd
                endpoint: 127.0.0.1:22
                failures: 0
            """);

        Assert.Equal($"{F}:4:15: checks[0].failures: 0 is out of range — use 1 or more", error);
    }

    [Fact]
    public void Timeout_not_shorter_than_interval_is_reported_at_the_timeout()
    {
        var error = SingleError("""
            checks:
              - name: sshd
                endpoint: 127.0.0.1:22
                interval: 5s
                timeout: 5s
            """);

        Assert.Equal($"{F}:5:14: checks[0].timeout: 5s is not shorter than interval (5s) — make timeout shorter than interval", error);
    }

    [Fact]
    public void Interval_below_the_default_timeout_is_reported_at_the_interval()
    {
        var error = SingleError(GoodTunnel + "\n    probe:\n      interval: 2s");

        Assert.Equal($"{F}:13:17: tunnels[0].probe.interval: 2s is not longer than timeout (5s, the default) — make interval longer than timeout, or set timeout lower", error);
    }

    [Fact]
    public void Backoff_initial_above_max_is_reported()
    {
        var error = SingleError("""
            supervision:
              backoff:
                initial: 2m
                max: 1m
            """);

        Assert.Equal($"{F}:3:14: supervision.backoff.initial: 2m is longer than max (1m) — make initial at most max", error);
    }

    [Fact]
    public void Port_zero_is_refused_where_the_address_is_not_a_local_listener()
    {
        var remote = GoodTunnel.Replace("kind: local", "kind: remote", StringComparison.Ordinal)
            .Replace("bind: 127.0.0.1:2222", "bind: 127.0.0.1:0", StringComparison.Ordinal);

        Assert.Equal($"{F}:10:11: tunnels[0].bind: port 0 (any free port) is only allowed for a local listener — use a port from 1 to 65535", SingleError(remote));
    }

    [Theory]
    [InlineData("local")]
    [InlineData("dynamic")]
    public void Port_zero_is_allowed_for_a_local_or_dynamic_tunnel_bind(string kind)
    {
        var yaml = GoodTunnel.Replace("kind: local", "kind: " + kind, StringComparison.Ordinal)
            .Replace("bind: 127.0.0.1:2222", "bind: 127.0.0.1:0", StringComparison.Ordinal);
        if (kind == "dynamic")
        {
            yaml = yaml.Replace("    target: 127.0.0.1:22", "", StringComparison.Ordinal);
        }

        Assert.Equal(0, LoadValid(yaml).Tunnels[0].Bind.Port);
    }

    [Fact]
    public void Tilde_paths_are_refused_because_nothing_expands_them()
    {
        var error = SingleError("""
            paths:
              stateDir: ~/bastion
            """);

        Assert.Equal($"{F}:2:13: paths.stateDir: '~/bastion': ~ is not expanded — write the full path, e.g. /root/.ssh/id_ed25519", error);
    }

    [Fact]
    public void Empty_quoted_string_is_reported()
    {
        var error = SingleError("""
            checks:
              - name: sshd
                endpoint: 127.0.0.1:22
                expect: ""
            """);

        Assert.Equal($"{F}:4:13: checks[0].expect: is an empty string — write a value, or remove the key", error);
    }
}
