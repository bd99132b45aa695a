using System.Text.RegularExpressions;
using Bastion.Config;
using static Bastion.Tests.Config.ConfigTestSupport;

namespace Bastion.Tests.Config;

/// <summary>config/bastion.example.yaml must stay valid, complete and meaningful.</summary>
public sealed partial class ExampleConfigTests
{
    // "# key: value" at a key's indentation is a switched-off alternative; prose comments never start with
    // a lowercase word and a colon.
    [GeneratedRegex(@"^(\s*)# ((?:- )?[a-z][A-Za-z]*:(?: .*)?)$", RegexOptions.Multiline)]
    private static partial Regex CommentedOutKey();

    private static string ExampleText() => File.ReadAllText(ExamplePath());

    private static string Uncommented() => CommentedOutKey().Replace(ExampleText(), "$1$2");

    [Fact]
    public void The_example_config_is_valid()
    {
        var result = ConfigLoader.LoadFile(ExamplePath(), NoFileChecks);

        Assert.True(result.Ok, string.Join("\n", result.Errors));
        Assert.Equal(ExamplePath(), result.Config!.SourcePath);
    }

    [Fact]
    public void The_lab_config_is_valid_and_keeps_its_state_next_to_itself()
    {
        var lab = Path.Combine(Path.GetDirectoryName(ExamplePath())!, "lab.yaml");

        var result = ConfigLoader.LoadFile(lab, NoFileChecks);

        Assert.True(result.Ok, string.Join("\n", result.Errors));
        Assert.Equal(Path.Combine(Path.GetDirectoryName(lab)!, "state"), result.Config!.Paths.StateDir);
    }

    [Fact]
    public void The_example_sets_non_default_values_in_every_section()
    {
        var config = ConfigLoader.LoadFile(ExamplePath(), NoFileChecks).Config!;

        Assert.NotEqual(new SupervisionConfig().Backoff, config.Supervision.Backoff);
        Assert.NotEqual(new SupervisionConfig().StopTimeout, config.Supervision.StopTimeout);

        var check = Assert.Single(config.Checks);
        Assert.Equal("sshd", check.Name);
        Assert.Equal("SSH-2.0-", check.Expect);
        Assert.Equal(TimeSpan.FromSeconds(10), check.Interval);
        Assert.Equal(TimeSpan.FromSeconds(4), check.Timeout);
        Assert.Equal(2, check.Failures);

        Assert.Equal(["reverse-ssh", "admin-socks", "console-via-tor"], config.Tunnels.Select(t => t.Name));
        var reverse = config.Tunnels[0];
        Assert.Equal(TunnelKind.Remote, reverse.Kind);
        Assert.Equal(2222, reverse.Server.Port);
        Assert.Equal("bastion-web1", reverse.Server.User);
        Assert.Equal("/etc/bastion/ssh/id_ed25519", reverse.Server.Identity);
        Assert.Single(reverse.Server.HostKey.Fingerprints);
        Assert.Equal("/etc/bastion/ssh/known_hosts", reverse.Server.HostKey.KnownHosts);
        Assert.StartsWith("ssh-ed25519 AAAA", reverse.Server.HostKey.Ca, StringComparison.Ordinal);
        Assert.Equal(new Endpoint("127.0.0.1", 10022), reverse.Bind);
        Assert.Equal(new Endpoint("127.0.0.1", 22), reverse.Target);
        Assert.Equal(new ProbeConfig { Interval = TimeSpan.FromSeconds(15), Timeout = TimeSpan.FromSeconds(5), Failures = 3 }, reverse.Probe);
        Assert.Equal(TimeSpan.FromMinutes(5), reverse.Backoff!.Max);
        Assert.Equal(TunnelKind.Dynamic, config.Tunnels[1].Kind);
        Assert.Null(config.Tunnels[1].Target);
        Assert.Equal(TunnelVia.Tor, config.Tunnels[2].Via);

        var onion = config.Onion!;
        Assert.Equal(new Endpoint("127.0.0.1", 9150), onion.Tor.SocksPort);
        Assert.Equal(["NumEntryGuards 2"], onion.Tor.ExtraConfig);
        var service = Assert.Single(onion.Services);
        Assert.Equal("ssh", service.Name);
        Assert.Equal("alice-laptop", Assert.Single(service.AuthorizedClients).Name);

        var vnc = config.Vnc!;
        Assert.Equal(VncMode.Fallback, vnc.Mode);
        Assert.Equal(7, vnc.Display);
        Assert.Equal("1600x900", vnc.Geometry);
        Assert.NotEqual(new VncConfig().Session, vnc.Session);
        Assert.Equal("/etc/bastion/vnc/passwd", vnc.PasswordFile);
        Assert.Equal("vnc", vnc.Endpoint);
        Assert.Equal(new VncFallbackConfig { Check = "sshd", Failures = 5, Grace = TimeSpan.FromMinutes(10) }, vnc.Fallback);

        var pki = config.Pki!;
        Assert.Equal("/var/lib/bastion/pki", pki.Dir);
        Assert.Equal(PkiAlgorithm.EcdsaP384, pki.Algorithm);
        Assert.Equal(TimeSpan.FromDays(730), pki.CaLifetime);
        Assert.Equal(TimeSpan.FromDays(14), pki.ServerLifetime);
        Assert.Equal(TimeSpan.FromDays(1), pki.ClientLifetime);
        Assert.Equal(TimeSpan.FromDays(2), pki.RenewBefore);

        Assert.Equal(["vnc", "phone-home"], config.Tls.Select(t => t.Name));
        var listener = config.Tls[0];
        Assert.Equal(TlsMode.Listen, listener.Mode);
        Assert.Null(listener.Backend); // vnc.endpoint: relays to the desktop's socket
        Assert.Equal(new BackendAddress(new Endpoint("127.0.0.1", 22), null), config.Tls[1].Backend);
        Assert.Equal("/etc/bastion/tls/admins-ca.crt", listener.Ca);
        Assert.Single(listener.Pins);
        Assert.Equal(5, listener.MaxFailedHandshakesPerMinute);
        Assert.Equal(TlsMode.Dial, config.Tls[1].Mode);
        Assert.Equal(TimeSpan.FromMinutes(1), config.Tls[1].Interval);
    }

    /// <summary>
    /// paths, logging and dbus show their production defaults; prove the example's lines for them are bound
    /// by changing each value and loading again.
    /// </summary>
    [Theory]
    [InlineData("stateDir: /var/lib/bastion", "stateDir: /srv/bastion")]
    [InlineData("runtimeDir: /run/bastion", "runtimeDir: /run/bastion-b")]
    [InlineData("level: information", "level: debug")]
    [InlineData("format: text", "format: json")]
    [InlineData("bus: system", "bus: none")]
    public void The_example_lines_that_show_defaults_are_bound(string line, string changed)
    {
        var text = ExampleText();
        Assert.Contains(line, text, StringComparison.Ordinal);

        var original = LoadValid(text);
        var modified = LoadValid(text.Replace(line, changed, StringComparison.Ordinal));

        Assert.NotEqual(original, modified);
        Assert.Equal(original, modified with { Paths = original.Paths, Logging = original.Logging, Dbus = original.Dbus });
    }

    [Fact]
    public void The_example_shows_every_key_of_the_schema()
    {
        var reader = new ConfigErrorList("example");
        var root = YamlTreeReader.Read(Uncommented(), reader);
        Assert.Equal(0, reader.Count);
        var shown = new HashSet<string>(StringComparer.Ordinal);
        CollectKeyPaths(root, "", shown);

        var missing = ConfigSchema.KeyPaths.Where(k => !shown.Contains(k)).ToList();
        var unknown = shown.Where(k => !ConfigSchema.KeyPaths.Contains(k)).ToList();

        Assert.True(missing.Count == 0, "keys missing from the example: " + string.Join(", ", missing));
        Assert.True(unknown.Count == 0, "keys in the example that the schema does not know: " + string.Join(", ", unknown));
    }

    [Fact]
    public void The_binder_reads_every_key_of_the_schema()
    {
        // The uncommented example holds every key; keys that conflict (bus: system with address) only add errors.
        var errors = new ConfigErrorList(ConfigFile);
        var root = YamlTreeReader.Read(Uncommented(), errors);
        var binder = new ConfigBinder(errors, "/etc/bastion", NoFileChecks);
        binder.Bind(root, ConfigFile);

        var unread = ConfigSchema.KeyPaths.Where(k => !binder.KeysRead.Contains(k)).ToList();
        Assert.True(unread.Count == 0, "schema keys the binder never reads: " + string.Join(", ", unread));
    }

    [Fact]
    public void The_example_documents_every_key_with_a_comment()
    {
        var original = ExampleText().Split('\n');
        var uncommented = Uncommented().Split('\n');
        var documented = new HashSet<string>(StringComparer.Ordinal);
        var context = new List<(int Column, string Path, bool IsItem)>();
        for (var i = 0; i < uncommented.Length; i++)
        {
            var match = Regex.Match(uncommented[i], @"^(\s*)(- )?([a-zA-Z]+):");
            if (!match.Success)
            {
                continue;
            }
            var column = match.Groups[1].Length + match.Groups[2].Length;
            string parent;
            if (match.Groups[2].Success)
            {
                context.RemoveAll(c => c.Column >= column);
                parent = context[^1].Path + "[]";
                context.Add((column, parent, true));
            }
            else
            {
                context.RemoveAll(c => c.Column > column || (c.Column == column && !c.IsItem));
                parent = context.Count == 0 ? "" : context[^1].Path;
            }
            var path = parent.Length == 0 ? match.Groups[3].Value : parent + "." + match.Groups[3].Value;
            context.Add((column, path, false));
            var commentAbove = i > 0 && original[i - 1].TrimStart().StartsWith('#') && !CommentedOutKey().IsMatch(original[i - 1]);
            var trailingComment = original[i].Contains(" # ", StringComparison.Ordinal);
            if (commentAbove || trailingComment)
            {
                documented.Add(path);
            }
        }

        var undocumented = ConfigSchema.KeyPaths.Where(k => !documented.Contains(k)).ToList();
        Assert.True(undocumented.Count == 0, "keys without a comment in the example: " + string.Join(", ", undocumented));
    }

    private static void CollectKeyPaths(YamlNode? node, string path, HashSet<string> paths)
    {
        switch (node)
        {
            case YamlMapping mapping:
                foreach (var entry in mapping.Entries)
                {
                    var keyPath = path.Length == 0 ? entry.Key.Value : path + "." + entry.Key.Value;
                    paths.Add(keyPath);
                    CollectKeyPaths(entry.Value, keyPath, paths);
                }
                break;
            case YamlSequence sequence:
                foreach (var item in sequence.Items)
                {
                    CollectKeyPaths(item, path + "[]", paths);
                }
                break;
        }
    }
}
