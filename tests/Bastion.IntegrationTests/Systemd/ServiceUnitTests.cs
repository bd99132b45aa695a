using Bastion.IntegrationTests.Infrastructure;

namespace Bastion.IntegrationTests.Systemd;

/// <summary>
/// systemd/bastion.service and its optional drop-in systemd/bastion-hardening.conf: systemd's own verifier accepts them
/// (pointed at the binary under test), the lines the daemon's contract depends on are there, and the unit itself carries
/// no sandbox that the emergency desktop's session would inherit.
/// </summary>
public sealed class ServiceUnitTests
{
    /// <summary>Where the Debian package puts the daemon; the copy under test points at the binary under test instead.</summary>
    private const string InstalledBinary = "/usr/sbin/bastiond";

    private static readonly TimeSpan VerifyTimeout = TimeSpan.FromMinutes(1);

    private static string UnitPath => Path.Combine(Binaries.RepositoryRoot, "systemd", "bastion.service");

    private static string HardeningPath => Path.Combine(Binaries.RepositoryRoot, "systemd", "bastion-hardening.conf");

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

    [Fact]
    public async Task Systemd_analyze_verify_accepts_the_unit_with_the_hardening_drop_in_without_warnings()
    {
        var result = await VerifyAsync(File.ReadAllText(UnitPath), File.ReadAllText(HardeningPath));

        Assert.True(result.ExitCode == 0, result.Describe());
        var about = result.Output.Split('\n').Where(line => line.Contains("bastion.service", StringComparison.Ordinal) || line.Contains("hardening.conf", StringComparison.Ordinal)).ToList();
        Assert.True(about.Count == 0, "systemd-analyze verify complained about the unit or the drop-in:\n" + result.Describe());
    }

    // Guards the test above: the drop-in is really read.
    [Fact]
    public async Task Systemd_analyze_verify_as_run_here_reports_a_bad_drop_in_line()
    {
        var broken = File.ReadAllText(HardeningPath).Replace("ProtectSystem=strict", "ProtectSystem=bogus", StringComparison.Ordinal);

        var result = await VerifyAsync(File.ReadAllText(UnitPath), broken);

        Assert.Contains("hardening.conf", result.Output, StringComparison.Ordinal);
        Assert.Contains("bogus", result.Output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("ProtectSystem", "strict")]
    [InlineData("ProtectHome", "yes")]
    [InlineData("NoNewPrivileges", "yes")]
    public void The_hardening_drop_in_sets_the_sandbox(string key, string value)
    {
        var values = ServiceValues(key, HardeningPath);

        Assert.True(values.Contains(value, StringComparer.Ordinal), $"[Service] {key}= is [{string.Join(", ", values)}], expected {value}");
    }

    // The desktop's session (login, the admin's shell) inherits bastiond's confinement: the unit itself must not confine.
    [Theory]
    [InlineData("ProtectSystem")]
    [InlineData("ProtectHome")]
    [InlineData("NoNewPrivileges")]
    [InlineData("CapabilityBoundingSet")]
    [InlineData("RestrictAddressFamilies")]
    [InlineData("ProtectKernelLogs")]
    public void The_unit_itself_does_not_confine_what_the_emergency_session_inherits(string key)
    {
        Assert.Empty(ServiceValues(key));
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
    public void The_unit_sets_the_line_the_daemon_relies_on(string key, string value)
    {
        var values = ServiceValues(key);

        Assert.True(values.Contains(value, StringComparer.Ordinal), $"[Service] {key}= is [{string.Join(", ", values)}], expected {value}");
    }

    // At shutdown units stop in the reverse order of After=: bastiond must stop before the system bus goes away.
    [Fact]
    public void The_unit_is_ordered_after_dbus_without_depending_on_it()
    {
        var after = SectionValues("[Unit]", "After").SelectMany(v => v.Split(' ', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("dbus.service", after);
        foreach (var key in new[] { "Requires", "BindsTo", "Requisite" })
        {
            Assert.DoesNotContain(SectionValues("[Unit]", key), v => v.Contains("dbus", StringComparison.Ordinal));
        }
    }

    [Fact]
    public void The_unit_bounds_its_tasks()
    {
        var value = Assert.Single(ServiceValues("TasksMax"));
        Assert.InRange(int.Parse(value, System.Globalization.CultureInfo.InvariantCulture), 256, 16384);
    }

    [Fact]
    public void The_unit_has_a_watchdog_and_starts_the_installed_daemon_with_the_default_config()
    {
        Assert.Single(ServiceValues("WatchdogSec"));
        Assert.Equal([InstalledBinary + " --config /etc/bastion/bastion.yaml"], ServiceValues("ExecStart"));
    }

    // The exposure systemd-analyze security scores (0 best, 10 worst), offline on the unit as shipped. README "Exposure"
    // has the figures and why each directive is in or out. Lower is fine (update these and the README); higher fails.
    [Fact]
    public async Task The_shipped_unit_scores_at_most_8_8_in_systemd_analyze_security()
    {
        Assert.InRange(await ExposureAsync(File.ReadAllText(UnitPath)), 0.0, 8.8);
    }

    [Fact]
    public async Task With_the_hardening_drop_in_the_unit_scores_at_most_4_4_in_systemd_analyze_security()
    {
        Assert.InRange(await ExposureAsync(File.ReadAllText(UnitPath), File.ReadAllText(HardeningPath)), 0.0, 4.4);
    }

    // Guards the two above: the score is read from a real run and moves when a directive changes.
    [Fact]
    public async Task The_exposure_score_as_read_here_drops_when_a_sandbox_directive_is_added()
    {
        var unit = File.ReadAllText(UnitPath);
        var shipped = await ExposureAsync(unit);
        var tighter = await ExposureAsync(unit.Replace("[Install]", "PrivateNetwork=yes\n\n[Install]", StringComparison.Ordinal));
        Assert.True(tighter < shipped, $"PrivateNetwork=yes scored {tighter}, the shipped unit {shipped}");
    }

    private static async Task<double> ExposureAsync(string unitText, string? dropIn = null)
    {
        var dir = Directory.CreateTempSubdirectory("bastion-unit-");
        try
        {
            File.WriteAllText(Path.Combine(dir.FullName, "bastion.service"), unitText);
            if (dropIn is not null)
            {
                var dropInDir = Directory.CreateDirectory(Path.Combine(dir.FullName, "bastion.service.d"));
                File.WriteAllText(Path.Combine(dropInDir.FullName, "hardening.conf"), dropIn);
            }
            var result = await ExternalCommand.RunAsync(
                "systemd-analyze", ["security", "--offline=true", "--no-pager", "bastion.service"], VerifyTimeout,
                new Dictionary<string, string> { ["SYSTEMD_COLORS"] = "0", ["SYSTEMD_PAGER"] = "", ["SYSTEMD_UNIT_PATH"] = dir.FullName + ":" },
                dir.FullName);
            Assert.False(result.TimedOut, result.Describe());
            var match = System.Text.RegularExpressions.Regex.Match(result.StdOut, @"Overall exposure level for bastion\.service: (\d+\.\d)");
            Assert.True(match.Success, result.Describe());
            return double.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    // verify logs an unknown capability name only at debug level, so a typo would silently drop it.
    [Fact]
    public async Task Every_capability_the_unit_keeps_is_one_systemd_knows()
    {
        var capabilities = ServiceValues("CapabilityBoundingSet", HardeningPath).SelectMany(v => v.Split(' ', StringSplitOptions.RemoveEmptyEntries)).ToList();
        Assert.NotEmpty(capabilities);

        var result = await ExternalCommand.RunAsync("systemd-analyze", ["capability", .. capabilities], VerifyTimeout);

        Assert.True(result.ExitCode == 0, result.Describe());
    }

    [Fact]
    public void The_unit_does_not_deny_writable_executable_memory_because_the_jit_needs_it()
    {
        Assert.DoesNotContain("yes", ServiceValues("MemoryDenyWriteExecute"));
    }

    private static async Task<CommandResult> VerifyAsync(string unitText, string? dropIn = null)
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
            if (dropIn is not null)
            {
                var dropInDir = Directory.CreateDirectory(Path.Combine(dir.FullName, "bastion.service.d"));
                File.WriteAllText(Path.Combine(dropInDir.FullName, "hardening.conf"), dropIn);
            }
            // No running systemd needed: verify loads the unit offline. --man=no: Documentation= must not
            // depend on installed man pages; warning level: what we assert on, without debug noise.
            var result = await ExternalCommand.RunAsync(
                "systemd-analyze",
                ["verify", "--man=no", "--generators=no", path],
                VerifyTimeout,
                // SYSTEMD_UNIT_PATH (trailing ':' keeps the defaults): drop-ins next to the unit are read, as in /etc/systemd/system.
                new Dictionary<string, string> { ["SYSTEMD_LOG_LEVEL"] = "warning", ["SYSTEMD_COLORS"] = "0", ["SYSTEMD_PAGER"] = "", ["SYSTEMD_UNIT_PATH"] = dir.FullName + ":" },
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
    private static List<string> ServiceValues(string key, string? path = null) => SectionValues("[Service]", key, path);

    /// <summary>Every value of KEY in SECTION, in order.</summary>
    private static List<string> SectionValues(string wanted, string key, string? path = null)
    {
        var values = new List<string>();
        var section = "";
        foreach (var raw in File.ReadLines(path ?? UnitPath))
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
            if (section == wanted && eq > 0 && line[..eq].Trim() == key)
            {
                values.Add(line[(eq + 1)..].Trim());
            }
        }
        return values;
    }
}
