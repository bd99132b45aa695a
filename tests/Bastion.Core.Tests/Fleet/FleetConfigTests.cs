using Bastion.Config;
using static Bastion.Tests.Config.ConfigTestSupport;

namespace Bastion.Tests.Fleet;

public sealed class FleetConfigTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("bastion-fleetcfg-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void A_fleet_section_binds_with_its_default_status_interval()
    {
        var config = LoadValid("""
            fleet:
              node: web1
              servers: [ "tls://nats.example.org:4222", "nats://10.0.0.2:4222" ]
              allowedSigners: /etc/bastion/fleet/allowed_signers
            """);

        Assert.Equal("web1", config.Fleet!.Node);
        Assert.Equal(["tls://nats.example.org:4222", "nats://10.0.0.2:4222"], config.Fleet.Servers);
        Assert.Equal("/etc/bastion/fleet/allowed_signers", config.Fleet.AllowedSigners);
        Assert.Null(config.Fleet.Credentials);
        Assert.Equal(TimeSpan.FromSeconds(30), config.Fleet.StatusInterval);
    }

    [Fact]
    public void Without_a_fleet_section_there_is_no_fleet()
    {
        Assert.Null(LoadValid("paths:\n  stateDir: /var/lib/bastion\n").Fleet);
    }

    [Fact]
    public void Every_fleet_error_is_reported_with_line_column_and_fix()
    {
        var errors = Errors("""
            fleet:
              node: web.1
              servers: [ "http://nats.example.org", "tls://user:pw@nats.example.org:4222" ]
              statusInterval: 2h
            """);

        Assert.Contains(errors, e => e.StartsWith("/etc/bastion/bastion.yaml:2:3: fleet.allowedSigners: ", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("/etc/bastion/bastion.yaml:2:9: fleet.node: 'web.1' is not a valid fleet node name", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("/etc/bastion/bastion.yaml:3:14: ", StringComparison.Ordinal) && e.Contains("not a NATS server URL", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("holds credentials", StringComparison.Ordinal) && !e.Contains("pw@", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("/etc/bastion/bastion.yaml:4:19: fleet.statusInterval: 2h is longer than 1h", StringComparison.Ordinal));
        Assert.Equal(5, errors.Count);
    }

    [Fact]
    public void A_broken_allowed_signers_file_is_reported_at_its_own_line_and_column()
    {
        var signers = Path.Combine(_dir, "allowed_signers");
        File.WriteAllText(signers, "# admins\nalice@example.org frobnicate ssh-ed25519 AAAA\n");

        var errors = Errors($"""
            fleet:
              node: web1
              servers: [ "tls://nats.example.org:4222" ]
              allowedSigners: {signers}
            """, new ConfigLoadOptions { CheckFiles = true });

        var error = Assert.Single(errors);
        Assert.StartsWith($"{signers}:2:19: unknown option \"frobnicate\"", error, StringComparison.Ordinal);
    }

    [Fact]
    public void A_credentials_file_readable_by_others_is_refused()
    {
        var signers = Path.Combine(_dir, "allowed_signers");
        File.WriteAllText(signers, "alice@example.org ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIqI4910CfGV/VLbLTy6XXLKZwm/HZQSG/N0iAG0D29c\n");
        var creds = Path.Combine(_dir, "nats.creds");
        File.WriteAllText(creds, "secret");
        File.SetUnixFileMode(creds, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead);

        var errors = Errors($"""
            fleet:
              node: web1
              servers: [ "tls://nats.example.org:4222" ]
              credentials: {creds}
              allowedSigners: {signers}
            """, new ConfigLoadOptions { CheckFiles = true });

        Assert.Contains("chmod 600", Assert.Single(errors), StringComparison.Ordinal);
    }
}
