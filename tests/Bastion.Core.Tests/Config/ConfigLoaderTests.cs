using Bastion.Config;
using static Bastion.Tests.Config.ConfigTestSupport;

namespace Bastion.Tests.Config;

/// <summary>The file as a whole: reading it, YAML features that are refused, defaults, paths and equality.</summary>
public sealed class ConfigLoaderTests
{
    private const string F = ConfigFile;

    [Theory]
    [InlineData("")]
    [InlineData("# nothing configured yet\n\n# still nothing\n")]
    [InlineData("---\n")]
    [InlineData("~\n")]
    public void Empty_file_is_a_valid_config_that_supervises_nothing(string yaml)
    {
        var config = LoadValid(yaml);

        Assert.Equal(BastionConfig.Empty with { SourcePath = F }, config);
    }

    [Fact]
    public void Missing_file_is_one_error_without_a_line()
    {
        var result = ConfigLoader.LoadFile("/nonexistent/bastion/bastion.yaml");

        var error = Assert.Single(result.Errors);
        Assert.Equal(0, error.Line);
        Assert.Equal("/nonexistent/bastion/bastion.yaml: cannot read the config file: No such file or directory — create it (see config/bastion.example.yaml) or pass --config PATH", error.ToString());
    }

    [Fact]
    public void Directory_given_as_the_config_file_is_reported()
    {
        var dir = Directory.CreateTempSubdirectory("bastion-config-").FullName;
        try
        {
            var error = Assert.Single(ConfigLoader.LoadFile(dir).Errors);

            Assert.Equal($"{dir}: cannot read the config file: Is a directory — pass the path of the YAML file itself with --config PATH", error.ToString());
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Loading_a_file_records_its_full_path_and_resolves_relative_paths_against_its_directory()
    {
        var dir = Directory.CreateTempSubdirectory("bastion-config-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(dir, "lab.yaml"), "paths:\n  stateDir: state\n  runtimeDir: ../run/bastion\n");
            var relative = Path.GetRelativePath(Environment.CurrentDirectory, Path.Combine(dir, "lab.yaml"));

            var config = ConfigLoader.LoadFile(relative).Config!;

            Assert.Equal(Path.Combine(dir, "lab.yaml"), config.SourcePath);
            Assert.Equal(Path.Combine(dir, "state"), config.Paths.StateDir);
            Assert.Equal(Path.GetFullPath(Path.Combine(dir, "..", "run", "bastion")), config.Paths.RuntimeDir);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Every_path_valued_key_resolves_relative_paths_against_the_config_directory()
    {
        var yaml = """
            paths: {stateDir: state, runtimeDir: run}
            tunnels:
              - name: t
                kind: local
                server:
                  host: h
                  user: u
                  identity: keys/id
                  hostKey: {knownHosts: keys/known_hosts}
                bind: 127.0.0.1:1
                target: 127.0.0.1:2
            onion: {tor: {executable: bin/tor}}
            vnc: {executable: bin/Xvnc, passwordFile: vnc/passwd}
            pki: {dir: pki}
            tls:
              - {name: v, mode: listen, address: "127.0.0.1:0", backend: "unix:rfb.sock", certificate: tls/c.crt, key: tls/c.key, ca: tls/ca.crt}
            """;

        var config = ConfigLoader.LoadText(yaml, "/srv/lab/bastion.yaml", NoFileChecks).Config!;

        Assert.Equal("/srv/lab/state", config.Paths.StateDir);
        Assert.Equal("/srv/lab/run", config.Paths.RuntimeDir);
        Assert.Equal("/srv/lab/keys/id", config.Tunnels[0].Server.Identity);
        Assert.Equal("/srv/lab/keys/known_hosts", config.Tunnels[0].Server.HostKey.KnownHosts);
        Assert.Equal("/srv/lab/bin/tor", config.Onion!.Tor.Executable);
        Assert.Equal("/srv/lab/bin/Xvnc", config.Vnc!.Executable);
        Assert.Equal("/srv/lab/vnc/passwd", config.Vnc.PasswordFile);
        Assert.Equal("/srv/lab/pki", config.Pki!.Dir);
        Assert.Equal("/srv/lab/rfb.sock", config.Tls[0].Backend!.UnixPath);
        Assert.Equal("/srv/lab/tls/c.crt", config.Tls[0].Certificate);
        Assert.Equal("/srv/lab/tls/c.key", config.Tls[0].Key);
        Assert.Equal("/srv/lab/tls/ca.crt", config.Tls[0].Ca);
    }

    [Fact]
    public void Yaml_syntax_error_is_the_only_error_reported()
    {
        var errors = Errors("paths:\n  statedir: /x\ntunnels: [\n");

        var error = Assert.Single(errors);
        Assert.Equal($"{F}:4:1: invalid YAML: While parsing a node, did not find expected node content — check the indentation (spaces, not tabs) and quote values that contain ': ' or ' #'", error);
    }

    [Fact]
    public void Tab_indentation_is_a_syntax_error_with_its_position()
    {
        Assert.Equal($"{F}:2:1: invalid YAML: While scanning a mapping, found invalid tab as indentation — check the indentation (spaces, not tabs) and quote values that contain ': ' or ' #'", SingleError("paths:\n\tstateDir: /x\n"));
    }

    [Fact]
    public void Top_level_list_is_refused()
    {
        Assert.Equal($"{F}:1:1: the file must be a mapping of sections, found a list — write each section as a key at the start of a line, e.g. tunnels: (sections: paths, logging, supervision, checks, tunnels, onion, vnc, pki, tls, dbus, metrics, fleet)", SingleError("- paths\n- tunnels\n"));
    }

    [Fact]
    public void Several_documents_are_refused()
    {
        var error = SingleError("logging: {level: debug}\n---\nlogging: {level: error}\n");

        Assert.Equal($"{F}:2:1: the file holds more than one YAML document — keep a single document: remove this '---' and merge what follows into the first", error);
    }

    [Fact]
    public void Anchors_and_aliases_are_refused()
    {
        var errors = Errors("""
            supervision:
              backoff: &slow {initial: 5s}
            tunnels:
              - name: t
                backoff: *slow
            """);

        Assert.Equal(
        [
            $"{F}:2:12: supervision.backoff: anchors and aliases are not supported — write the value out",
            $"{F}:5:14: tunnels[0].backoff: anchors and aliases are not supported — write the value out",
        ], errors);
    }

    [Fact]
    public void Tags_are_refused()
    {
        var error = SingleError("vnc:\n  display: !!int 5\n");

        Assert.Equal($"{F}:2:12: vnc.display: tags like '!!int' are not supported — remove the tag; quote the value if it must be read as text", error);
    }

    [Fact]
    public void Defaults_are_applied_to_everything_left_out()
    {
        var config = LoadValid(GoodTunnel + """

            checks: [{name: sshd, endpoint: "127.0.0.1:22"}]
            onion: {services: [{name: ssh}]}
            vnc: {}
            pki: {}
            """);

        Assert.Equal(new PathsConfig(), config.Paths);
        Assert.Equal(new LoggingConfig(), config.Logging);
        Assert.Equal(new SupervisionConfig(), config.Supervision);
        Assert.Equal(new DbusConfig(), config.Dbus);
        var check = config.Checks[0];
        Assert.Equal((TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(3), 3, (string?)null), (check.Interval, check.Timeout, check.Failures, check.Expect));
        var tunnel = config.Tunnels[0];
        Assert.Equal(22, tunnel.Server.Port);
        Assert.Equal(TunnelVia.Direct, tunnel.Via);
        Assert.Equal(new ProbeConfig(), tunnel.Probe);
        Assert.Null(tunnel.Backoff);
        Assert.Equal(new TorConfig(), config.Onion!.Tor);
        Assert.Equal(new OnionServiceConfig { Name = "ssh" }, config.Onion.Services[0]);
        Assert.Equal(new VncConfig(), config.Vnc);
        Assert.Equal(new PkiConfig(), config.Pki);
    }

    [Fact]
    public void Absent_optional_sections_stay_null_and_null_values_mean_not_set()
    {
        var config = LoadValid("onion:\nvnc: ~\npki: null\npaths:\n  stateDir:\n");

        Assert.Null(config.Onion);
        Assert.Null(config.Vnc);
        Assert.Null(config.Pki);
        Assert.Equal(PathsConfig.DefaultStateDir, config.Paths.StateDir);
    }

    [Fact]
    public void Tunnel_backoff_takes_the_keys_it_leaves_out_from_supervision()
    {
        var config = LoadValid("supervision:\n  backoff: {initial: 3s, max: 90s, resetAfter: 2m}\n" + GoodTunnel + "\n    backoff: {max: 10m}");

        Assert.Equal(new BackoffConfig { Initial = TimeSpan.FromSeconds(3), Max = TimeSpan.FromMinutes(10), ResetAfter = TimeSpan.FromMinutes(2) }, config.Tunnels[0].Backoff);
    }

    [Fact]
    public void Two_loads_of_the_same_text_are_equal_and_a_one_field_change_is_not()
    {
        var text = File.ReadAllText(ExamplePath());

        var first = LoadValid(text);
        var second = LoadValid(text);
        var changed = LoadValid(text.Replace("- NumEntryGuards 2", "- NumEntryGuards 3", StringComparison.Ordinal));

        Assert.Equal(first, second);
        Assert.Equal(first.GetHashCode(), second.GetHashCode());
        Assert.NotSame(first.Tunnels[0], second.Tunnels[0]);
        Assert.NotEqual(first, changed);
        Assert.NotEqual(first.Onion, changed.Onion);
        Assert.Equal(first.Tunnels, changed.Tunnels);
    }

    [Fact]
    public void A_config_with_many_mistakes_reports_all_of_them_in_file_order()
    {
        // vnc comes first but is bound last; the errors still come out in file order.
        var errors = Errors("""
            vnc:
              mode: fallbak
              display: 1000
            paths:
              statedir: /srv/bastion
            logging: {level: verbose}
            checks:
              - name: sshd
                endpoint: 127.0.0.1
              - name: sshd
                endpoint: 127.0.0.1:22
                timeout: 0s
            tunnels:
              - name: Admin
                kind: remote
                server:
                  host: jump.example.org
                  port: 0
                  user: bastion
                  identity: /etc/bastion/id
                  hostKey: {}
                bind: 127.0.0.1:0
              - kind: dynamic
            dbus:
              bus: adress
            """);

        Assert.Equal(
        [
            $"{F}:2:9: vnc.mode: 'fallbak' is not a valid mode — did you mean 'fallback'? use one of: off, always, fallback",
            $"{F}:3:12: vnc.display: 1000 is out of range — use 0..999",
            $"{F}:5:3: paths.statedir: unknown key — did you mean 'stateDir'?",
            $"{F}:6:18: logging.level: 'verbose' is not a valid level — use one of: trace, debug, information, warning, error",
            $"{F}:9:15: checks[0].endpoint: '127.0.0.1' has no port — write host:port, e.g. 127.0.0.1:2222",
            $"{F}:10:11: checks[1].name: 'sshd' is already used by checks[0] (line 8) — give each check its own name",
            $"{F}:12:14: checks[1].timeout: 0s is zero — write a duration longer than zero, e.g. 10s, 1m30s or 500ms",
            $"{F}:14:5: tunnels[0].target: is missing; a remote tunnel forwards the server's bind to a local target — add it, e.g. target: 127.0.0.1:22 (this machine's sshd)",
            $"{F}:14:11: tunnels[0].name: 'Admin' is not a valid name — use 1 to 63 lowercase letters, digits, '.', '_' or '-', starting with a letter or digit (^[a-z0-9][a-z0-9._-]{{0,62}}$), e.g. 'admin'",
            $"{F}:18:13: tunnels[0].server.port: 0 is out of range — use 1..65535",
            $"{F}:21:16: tunnels[0].server.hostKey: has none of fingerprints, knownHosts or ca — run `bastionctl ssh hostkey jump.example.org:22` to learn the fingerprint to pin; host key checking cannot be switched off",
            $"{F}:22:11: tunnels[0].bind: port 0 (any free port) is only allowed for a local listener — use a port from 1 to 65535",
            $"{F}:23:5: tunnels[1].name: is missing — add it, e.g. name: admin-ssh",
            $"{F}:23:5: tunnels[1].server: is missing — add server: with host, user, identity and hostKey under it",
            $"{F}:23:5: tunnels[1].bind: is missing — add it, e.g. bind: 127.0.0.1:2222",
            $"{F}:25:8: dbus.bus: 'adress' is not a valid bus — did you mean 'address'? use one of: system, session, address, none",
        ], errors);
    }
}
