using Bastion.Config;
using Bastion.Fleet;
using static Bastion.Tests.Config.ConfigTestSupport;

namespace Bastion.Tests.Fleet;

/// <summary><c>fleet.credentials</c> (its format) and <c>fleet.ca</c>: binding, located errors, and the parser of the file.</summary>
public sealed class FleetBrokerConfigTests : IDisposable
{
    private const string Signer = "alice@example.org ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIqI4910CfGV/VLbLTy6XXLKZwm/HZQSG/N0iAG0D29c\n";
    private readonly string _dir = Directory.CreateTempSubdirectory("bastion-fleetbroker-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(string name, string text, UnixFileMode mode = UnixFileMode.UserRead | UnixFileMode.UserWrite)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, text);
        File.SetUnixFileMode(path, mode);
        return path;
    }

    [Fact]
    public void A_ca_file_binds_and_is_part_of_the_fleet_definition()
    {
        var config = LoadValid("""
            fleet:
              node: web1
              servers: [ "tls://nats.example.org:4222" ]
              credentials: /etc/bastion/fleet/nats-user
              ca: /etc/bastion/fleet/broker-ca.pem
              allowedSigners: /etc/bastion/fleet/allowed_signers
            """);

        Assert.Equal("/etc/bastion/fleet/broker-ca.pem", config.Fleet!.Ca);
        Assert.Equal("/etc/bastion/fleet/nats-user", config.Fleet.Credentials);
        Assert.NotEqual(config.Fleet, config.Fleet with { Ca = "/etc/bastion/fleet/other-ca.pem" });
    }

    [Fact]
    public void A_missing_ca_file_and_a_missing_credentials_file_are_located_errors_that_name_the_fix()
    {
        var signers = Write("allowed_signers", Signer, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead);
        var ca = Path.Combine(_dir, "no-such-ca.pem");
        var creds = Path.Combine(_dir, "no-such-creds");

        var errors = Errors($"""
            fleet:
              node: web1
              servers: [ "tls://nats.example.org:4222" ]
              credentials: {creds}
              ca: {ca}
              allowedSigners: {signers}
            """, new ConfigLoadOptions { CheckFiles = true });

        Assert.Equal(2, errors.Count);
        Assert.Contains(errors, e => e.StartsWith($"/etc/bastion/bastion.yaml:4:16: fleet.credentials: {creds} does not exist", StringComparison.Ordinal)
            && e.Contains("two lines (the user name, then the password)", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith($"/etc/bastion/bastion.yaml:5:7: fleet.ca: {ca} does not exist", StringComparison.Ordinal)
            && e.Contains("PEM certificate of the CA that signed the broker's certificate", StringComparison.Ordinal));
    }

    [Fact]
    public void A_credentials_file_readable_by_group_is_a_located_error_and_its_content_is_never_in_it()
    {
        var signers = Write("allowed_signers", Signer, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead);
        var creds = Write("nats-user", "web1\nsup3r-s3cret\n", UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead);

        var errors = Errors($"""
            fleet:
              node: web1
              servers: [ "tls://nats.example.org:4222" ]
              credentials: {creds}
              allowedSigners: {signers}
            """, new ConfigLoadOptions { CheckFiles = true });

        var error = Assert.Single(errors);
        Assert.StartsWith($"/etc/bastion/bastion.yaml:4:16: fleet.credentials: {creds} is accessible by group or others (mode 0640)", error, StringComparison.Ordinal);
        Assert.DoesNotContain("sup3r-s3cret", error, StringComparison.Ordinal);
    }

    [Fact]
    public void An_unknown_fleet_key_next_to_ca_is_still_reported()
    {
        var errors = Errors("""
            fleet:
              node: web1
              servers: [ "tls://nats.example.org:4222" ]
              allowedSigners: /etc/bastion/fleet/allowed_signers
              cafile: /etc/bastion/fleet/broker-ca.pem
            """);

        Assert.Contains(errors, e => e.StartsWith("/etc/bastion/bastion.yaml:5:3: fleet.cafile: ", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("web1\ncorrect horse:battery\n", "web1", "correct horse:battery")]
    [InlineData("web1\r\npw\r\n", "web1", "pw")]
    [InlineData("web1\npw", "web1", "pw")]
    public void A_two_line_file_is_a_user_and_a_password_taken_verbatim(string text, string user, string password)
    {
        var (credentials, problem) = FleetCredentials.Parse(text);

        Assert.Equal(FleetCredentialsProblem.None, problem);
        Assert.Equal(FleetCredentialsKind.UserPassword, credentials!.Kind);
        Assert.Equal(user, credentials.User);
        Assert.Equal(password, credentials.Password);
        Assert.DoesNotContain(password, credentials.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void A_nats_creds_file_is_recognised_by_its_armour_and_an_incomplete_one_refused()
    {
        const string Jwt = "-----BEGIN NATS USER JWT-----\neyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.e30.sig\n------END NATS USER JWT------\n";
        const string Seed = "-----BEGIN USER NKEY SEED-----\nSUAIBDPBAUTWCWBKIO6XHQNINK5FWJW4OHLXC3HQ2KFE4PEJUA44CNHTC4\n------END USER NKEY SEED------\n";

        Assert.Equal(FleetCredentialsKind.NatsCreds, FleetCredentials.Parse(Jwt + "\n" + Seed).Credentials!.Kind);
        Assert.Equal(FleetCredentialsProblem.IncompleteCreds, FleetCredentials.Parse(Jwt).Problem);
    }

    [Theory]
    [InlineData("", FleetCredentialsProblem.Empty)]
    [InlineData("\n\n", FleetCredentialsProblem.Empty)]
    [InlineData("web1\n", FleetCredentialsProblem.NotTwoLines)]
    [InlineData("web1\npw\nmore\n", FleetCredentialsProblem.NotTwoLines)]
    [InlineData("web one\npw\n", FleetCredentialsProblem.BadUser)]
    [InlineData("\npw\n", FleetCredentialsProblem.BadUser)]
    [InlineData("web1\n\n", FleetCredentialsProblem.EmptyPassword)]
    public void A_file_that_is_not_two_lines_of_user_and_password_is_refused_by_what_is_wrong(string text, FleetCredentialsProblem expected)
    {
        var (credentials, problem) = FleetCredentials.Parse(text);

        Assert.Null(credentials);
        Assert.Equal(expected, problem);
        Assert.StartsWith("/etc/bastion/fleet/nats-user", FleetCredentials.Describe(problem, "/etc/bastion/fleet/nats-user"), StringComparison.Ordinal);
    }

    [Fact]
    public void A_file_larger_than_a_credentials_file_can_be_is_refused_without_parsing()
    {
        Assert.Equal(FleetCredentialsProblem.TooLarge, FleetCredentials.Parse("u\n" + new string('p', FleetCredentials.MaxSize)).Problem);
    }

    [Fact]
    public void Reading_a_file_that_never_ends_stops_after_the_size_limit_and_a_real_file_is_read_and_parsed()
    {
        // /dev/zero reports length 0 and never ends: a reader that trusted the length would read forever.
        Assert.Equal(FleetCredentialsProblem.TooLarge, FleetCredentials.ReadFile("/dev/zero").Problem);
        var path = Path.Combine(Path.GetTempPath(), $"fleet-creds-{Guid.NewGuid():N}");
        try
        {
            File.WriteAllText(path, "web1\nsecret words\n");
            var (credentials, problem) = FleetCredentials.ReadFile(path);
            Assert.Equal(FleetCredentialsProblem.None, problem);
            Assert.Equal("web1", credentials!.User);
            Assert.Equal("secret words", credentials.Password);
        }
        finally
        {
            File.Delete(path);
        }
        Assert.Throws<FileNotFoundException>(() => FleetCredentials.ReadFile(path));
    }
}
