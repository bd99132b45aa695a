using Bastion.Config;

namespace Bastion.Tests.Config;

/// <summary>Loads YAML as if it were /etc/bastion/bastion.yaml and formats the outcome for exact assertions.</summary>
internal static class ConfigTestSupport
{
    public const string ConfigFile = "/etc/bastion/bastion.yaml";

    public static readonly ConfigLoadOptions NoFileChecks = new() { CheckFiles = false };

    /// <summary>A tunnel that binds cleanly, to build on in tests (2-space indented list entry under tunnels:).</summary>
    public const string GoodTunnel = """
        tunnels:
          - name: admin
            kind: local
            server:
              host: jump.example.org
              user: bastion
              identity: /etc/bastion/id_ed25519
              hostKey:
                fingerprints: [SHA256:f+MBIWY78I2QFpPR3dFB27DxF/+3SHAxu+2DvHOv1M8]
            bind: 127.0.0.1:2222
            target: 127.0.0.1:22
        """;

    public static BastionConfig LoadValid(string yaml, ConfigLoadOptions? options = null)
    {
        var result = ConfigLoader.LoadText(yaml, ConfigFile, options ?? NoFileChecks);
        Assert.True(result.Ok, "expected a valid config, got:\n" + string.Join("\n", result.Errors));
        return result.Config!;
    }

    public static List<string> Errors(string yaml, ConfigLoadOptions? options = null)
    {
        var result = ConfigLoader.LoadText(yaml, ConfigFile, options ?? NoFileChecks);
        Assert.Null(result.Config);
        Assert.NotEmpty(result.Errors);
        return [.. result.Errors.Select(e => e.ToString())];
    }

    /// <summary>Asserts the config has exactly one error and returns it.</summary>
    public static string SingleError(string yaml, ConfigLoadOptions? options = null)
    {
        var errors = Errors(yaml, options);
        Assert.True(errors.Count == 1, "expected one error, got:\n" + string.Join("\n", errors));
        return errors[0];
    }

    /// <summary>Finds the repository's example config by walking up from the test binaries.</summary>
    public static string ExamplePath()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "config", "bastion.example.yaml");
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }
        throw new FileNotFoundException("config/bastion.example.yaml not found above " + AppContext.BaseDirectory);
    }
}
