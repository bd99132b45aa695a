using Bastion.Fleet;

namespace Bastion.Tests.Fleet;

public sealed class FleetNodeKeyTests : IDisposable
{
    private readonly string _stateDir = Path.Combine(Directory.CreateTempSubdirectory("bastion-nodekey-").FullName, "state");

    public void Dispose() => Directory.Delete(Path.GetDirectoryName(_stateDir)!, recursive: true);

    [Fact]
    public void The_first_start_creates_a_private_key_in_a_private_directory_and_later_starts_load_the_same_key()
    {
        var (first, created) = FleetNodeKey.LoadOrCreate(_stateDir, "bastion-fleet web1");
        var (second, createdAgain) = FleetNodeKey.LoadOrCreate(_stateDir, "bastion-fleet web1");

        Assert.True(created);
        Assert.False(createdAgain);
        Assert.Equal(first.PublicKey, second.PublicKey);
        var path = FleetNodeKey.PathIn(_stateDir);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(Path.GetDirectoryName(path)!));
        first.Dispose();
        second.Dispose();
    }

    [Fact]
    public void The_node_key_file_is_an_OpenSSH_key_that_ssh_keygen_reads()
    {
        using var keygen = new SshKeygen();
        var (key, _) = FleetNodeKey.LoadOrCreate(_stateDir, "bastion-fleet web1");

        var derived = SshKeygen.Run(["-y", "-f", FleetNodeKey.PathIn(_stateDir)]);

        Assert.True(derived.ExitCode == 0, derived.Error);
        Assert.Equal(key.PublicKey, SshPublicKey.ParseText(derived.Output));
        Assert.Equal("web1 " + key.PublicKey, FleetNodeKey.NodeListLine("web1", key.PublicKey));
        key.Dispose();
    }

    [Fact]
    public void A_key_readable_by_others_is_refused_with_the_fix_and_not_replaced()
    {
        var (key, _) = FleetNodeKey.LoadOrCreate(_stateDir, "n");
        var path = FleetNodeKey.PathIn(_stateDir);
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead);
        var before = File.ReadAllText(path);

        var error = Assert.Throws<NodeKeyException>(() => FleetNodeKey.LoadOrCreate(_stateDir, "n"));

        Assert.Contains("chmod 600", error.Message, StringComparison.Ordinal);
        Assert.Equal(before, File.ReadAllText(path));
        key.Dispose();
    }

    [Fact]
    public void A_damaged_key_is_an_error_naming_the_file_and_is_never_silently_replaced_and_no_key_text_leaks()
    {
        var (key, _) = FleetNodeKey.LoadOrCreate(_stateDir, "n");
        key.Dispose();
        var path = FleetNodeKey.PathIn(_stateDir);
        var text = File.ReadAllText(path);
        var damaged = text[..(text.Length / 2)] + "\n-----END OPENSSH PRIVATE KEY-----\n";
        File.WriteAllText(path, damaged);

        var error = Assert.Throws<NodeKeyException>(() => FleetNodeKey.LoadOrCreate(_stateDir, "n"));

        Assert.StartsWith(path + ":", error.Message, StringComparison.Ordinal);
        Assert.Equal(damaged, File.ReadAllText(path));
        foreach (var line in text.Split('\n').Where(l => l.Length > 20 && !l.StartsWith("-----", StringComparison.Ordinal)))
        {
            Assert.DoesNotContain(line, error.Message, StringComparison.Ordinal);
        }
    }
}
