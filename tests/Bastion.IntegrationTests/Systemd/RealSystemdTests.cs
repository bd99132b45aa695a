using Bastion.IntegrationTests.Infrastructure;
using Xunit.Abstractions;

namespace Bastion.IntegrationTests.Systemd;

/// <summary>
/// The Debian package under a real systemd 252 as PID 1 (systemd-nspawn on an overlay of this machine's root), as an
/// admin uses it. The steps and their checks are in real-systemd.sh next to this file; this test builds the package
/// from the binaries under test, runs the script, shows its output and fails on any step that did not pass — or on a
/// step missing from the output, so a script that stops early cannot pass. A missing systemd-nspawn fails loudly.
/// </summary>
public sealed class RealSystemdTests(ITestOutputHelper output)
{
    private static readonly string[] Steps =
    [
        "boot systemd as PID 1 of a container",
        "the .deb installs with dpkg inside (no .NET there needed) and starts the daemon",
        "systemctl enable --now: enabled, active, READY and STATUS in systemctl status",
        "D-Bus: the policy is in force at once, no 'Unknown group' from dbus-daemon",
        "D-Bus: an unprivileged user is refused Reload, a bastion-admin member is allowed",
        "systemctl reload: the daemon re-reads its config and keeps running",
        "a broken config at reload: still running on the last good one, the error at priority err",
        "a broken config at start: the service fails and the journal has file:line:col at priority err",
        "watchdog: a healthy daemon is kept (WatchdogSec=4s drop-in, 3 periods)",
        "watchdog: a SIGSTOPped daemon is killed and restarted",
        "the hardening drop-in: the daemon starts under the full sandbox and reaches READY",
        "systemctl stop: inactive, nothing of the unit left",
        "reboot: active again (enabled), and bastiond stops before the bus goes away",
        "SIGKILL of bastiond with the desktop raised: systemd cleans the cgroup, the desktop comes back",
        "apt-get purge: the service, the files and the state are gone",
        "install.sh from source: the group before the policy, dbus reloaded, an admin allowed at once",
    ];

    [Fact]
    public async Task The_deb_installs_runs_reloads_survives_the_watchdog_and_a_reboot_and_purges_under_a_real_systemd()
    {
        Assert.True(File.Exists("/usr/bin/systemd-nspawn"),
            "systemd-nspawn is missing: scripts/install-deps.sh installs systemd-container at the version of the installed systemd");
        using var root = new TempRoot("bastion-deb-");
        var binDir = Path.GetDirectoryName(Binaries.Bastiond)!;
        Assert.False(File.Exists(Path.Combine(binDir, "bastiond.dll")),
            $"{binDir} holds a --jit build; the package and this test need the NativeAOT binaries (scripts/build.sh)");

        var package = await ExternalCommand.RunAsync(
            Path.Combine(Binaries.RepositoryRoot, "scripts", "package.sh"), ["--bin", binDir, "--out", root.Path],
            TimeSpan.FromMinutes(3));
        output.WriteLine(package.Describe());
        Assert.True(package.ExitCode == 0 && !package.TimedOut, "scripts/package.sh failed (output above)");
        var deb = package.StdOut.Trim();
        Assert.True(File.Exists(deb), $"no package at '{deb}'");

        var run = await ExternalCommand.RunAsync(
            Path.Combine(Binaries.RepositoryRoot, "tests", "Bastion.IntegrationTests", "Systemd", "real-systemd.sh"), [deb, binDir],
            TimeSpan.FromMinutes(4));
        output.WriteLine(run.Describe());
        Assert.False(run.TimedOut, "real-systemd.sh did not finish within 4 minutes (output above)");
        var lines = run.StdOut.Split('\n');
        Assert.DoesNotContain(lines, l => l.StartsWith("not ok", StringComparison.Ordinal));
        foreach (var step in Steps)
        {
            Assert.Contains(lines, l => l.StartsWith($"ok - {step} (", StringComparison.Ordinal));
        }
        Assert.Equal(0, run.ExitCode);
    }
}
