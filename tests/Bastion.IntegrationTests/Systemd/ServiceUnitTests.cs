using Bastion.IntegrationTests.Infrastructure;

namespace Bastion.IntegrationTests.Systemd;

/// <summary>
/// systemd/bastion.service: systemd's own verifier accepts it (pointed at the binary under test), and the
/// lines the daemon's contract depends on are there.
/// </summary>
public sealed class ServiceUnitTests
{
    /// <summary>Where scripts/install.sh puts the daemon; the copy under test points at the binary under test instead.</summary>
    private const string InstalledBinary = "/usr/local/lib/bastion/bastiond";

    private static readonly TimeSpan VerifyTimeout = TimeSpan.FromMinutes(1);

    private static string UnitPath => Path.Combine(Binaries.RepositoryRoot, "systemd", "bastion.service");

    [Fact]
    public async Task Systemd_analyze_verify_accepts_the_unit_without_warnings()
    {
        var result = await VerifyAsync(File.ReadAllText(UnitPath));

        Assert.True(result.ExitCode == 0, result.Describe());
        var aboutTheUnit = result.Output.Split('\n').Where(line => line.Contains("bastion.service", StringComparison.Ordinal)).ToList();
        Assert.True(aboutTheUnit.Count == 0, "systemd-analyze verify complained about the unit:\n" + result.Describe());
    }

    // Guards the test above: proves that verify, run the same way, does report a broken line.
    [Fact]
    public async Task Systemd_analyze_verify_as_run_here_reports_a_misspelt_key()
    {
        var broken = File.ReadAllText(UnitPath).Replace("WatchdogSec=", "WatchdogSecs=", StringComparison.Ordinal);

        var result = await VerifyAsync(broken);

        Assert.Contains("Unknown key 'WatchdogSecs'", result.Output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Type", "notify")]
    [InlineData("NotifyAccess", "main")]
    [InlineData("ExecReload", "/bin/kill -HUP $MAINPID")]
    [InlineData("Restart", "on-failure")]
    [InlineData("StateDirectory", "bastion")]
    [InlineData("StateDirectoryMode", "0700")]
    [InlineData("RuntimeDirectory", "bastion")]
    [InlineData("RuntimeDirectoryMode", "0755")]
    [InlineData("ConfigurationDirectory", "bastion")]
    [InlineData("ProtectSystem", "strict")]
    [InlineData("NoNewPrivileges", "yes")]
    public void The_unit_sets_the_line_the_daemon_relies_on(string key, string value)
    {
        var values = ServiceValues(key);

        Assert.True(values.Contains(value, StringComparer.Ordinal), $"[Service] {key}= is [{string.Join(", ", values)}], expected {value}");
    }

    [Fact]
    public void The_unit_has_a_watchdog_and_starts_the_installed_daemon_with_the_default_config()
    {
        Assert.Single(ServiceValues("WatchdogSec"));
        Assert.Equal([InstalledBinary + " --config /etc/bastion/bastion.yaml"], ServiceValues("ExecStart"));
    }

    // verify logs an unknown capability name only at debug level, so a typo would silently drop it.
    [Fact]
    public async Task Every_capability_the_unit_keeps_is_one_systemd_knows()
    {
        var capabilities = ServiceValues("CapabilityBoundingSet").SelectMany(v => v.Split(' ', StringSplitOptions.RemoveEmptyEntries)).ToList();
        Assert.NotEmpty(capabilities);

        var result = await ExternalCommand.RunAsync("systemd-analyze", ["capability", .. capabilities], VerifyTimeout);

        Assert.True(result.ExitCode == 0, result.Describe());
    }

    [Fact]
    public void The_unit_does_not_deny_writable_executable_memory_because_the_jit_needs_it()
    {
        Assert.DoesNotContain("yes", ServiceValues("MemoryDenyWriteExecute"));
    }

    private static async Task<CommandResult> VerifyAsync(string unitText)
    {
        Assert.Contains("ExecStart=" + InstalledBinary + " ", unitText, StringComparison.Ordinal);
        var binary = Binaries.Bastiond;
        var execStart = binary.Contains(' ', StringComparison.Ordinal) ? $"\"{binary}\"" : binary;
        var unit = unitText.Replace("ExecStart=" + InstalledBinary, "ExecStart=" + execStart, StringComparison.Ordinal);

        var dir = Directory.CreateTempSubdirectory("bastion-unit-");
        try
        {
            var path = Path.Combine(dir.FullName, "bastion.service");
            File.WriteAllText(path, unit);
            // No running systemd needed: verify loads the unit offline. --man=no: Documentation= must not
            // depend on installed man pages; warning level: what we assert on, without debug noise.
            var result = await ExternalCommand.RunAsync(
                "systemd-analyze",
                ["verify", "--man=no", "--generators=no", path],
                VerifyTimeout,
                new Dictionary<string, string> { ["SYSTEMD_LOG_LEVEL"] = "warning", ["SYSTEMD_COLORS"] = "0", ["SYSTEMD_PAGER"] = "" },
                dir.FullName);
            Assert.False(result.TimedOut, result.Describe());
            return result;
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    /// <summary>Every value of KEY in the [Service] section, in order (comments and other sections ignored).</summary>
    private static List<string> ServiceValues(string key)
    {
        var values = new List<string>();
        var section = "";
        foreach (var raw in File.ReadLines(UnitPath))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#') || line.StartsWith(';'))
            {
                continue;
            }
            if (line.StartsWith('[') && line.EndsWith(']'))
            {
                section = line;
                continue;
            }
            var eq = line.IndexOf('=', StringComparison.Ordinal);
            if (section == "[Service]" && eq > 0 && line[..eq].Trim() == key)
            {
                values.Add(line[(eq + 1)..].Trim());
            }
        }
        return values;
    }
}
