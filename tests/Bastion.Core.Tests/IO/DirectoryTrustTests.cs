using Bastion.IO;

namespace Bastion.Tests.IO;

public sealed class DirectoryTrustTests
{
    private const UnixFileMode Mode700 = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    private const UnixFileMode Mode755 = Mode700 | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute;

    private static string? Names(uint uid) => uid switch { 0 => "root", 1001 => "mallory", _ => null };

    [Theory]
    [InlineData(0u, Mode700)]
    [InlineData(0u, Mode755)]
    [InlineData(0u, Mode755 | UnixFileMode.SetGroup)]
    public void A_directory_of_the_daemons_user_that_only_it_may_write_is_trusted(uint owner, UnixFileMode mode) =>
        Assert.Equal(DirectoryProblem.None, DirectoryTrust.Evaluate(new PathOwnership(owner, mode, IsDirectory: true), 0));

    [Fact]
    public void A_directory_owned_by_another_user_is_refused_even_when_private() =>
        Assert.Equal(DirectoryProblem.OwnedByAnotherUser, DirectoryTrust.Evaluate(new PathOwnership(1001, Mode700, IsDirectory: true), 0));

    [Theory]
    [InlineData(Mode755 | UnixFileMode.GroupWrite)]
    [InlineData(Mode755 | UnixFileMode.OtherWrite)]
    [InlineData(Mode755 | UnixFileMode.OtherWrite | UnixFileMode.GroupWrite | UnixFileMode.StickyBit)]
    public void A_directory_group_or_others_may_write_is_refused_even_with_the_sticky_bit(UnixFileMode mode) =>
        Assert.Equal(DirectoryProblem.WritableByGroupOrOthers, DirectoryTrust.Evaluate(new PathOwnership(0, mode, IsDirectory: true), 0));

    [Fact]
    public void A_file_where_a_directory_belongs_is_refused() =>
        Assert.Equal(DirectoryProblem.NotADirectory, DirectoryTrust.Evaluate(new PathOwnership(0, Mode700, IsDirectory: false), 0));

    [Fact]
    public void The_refusal_of_a_foreign_directory_names_it_its_owner_and_the_fix()
    {
        var text = DirectoryTrust.Describe("/run/bastion", DirectoryProblem.OwnedByAnotherUser, new PathOwnership(1001, Mode755, true), 0, nameOf: Names);
        Assert.StartsWith("/run/bastion: refused: owned by uid 1001 (mallory), not by uid 0 (root)", text, StringComparison.Ordinal);
        Assert.Contains("chown root /run/bastion && chmod go-w /run/bastion", text, StringComparison.Ordinal);
    }

    [Fact]
    public void The_refusal_of_a_writable_directory_shows_its_mode_and_the_chmod_that_fixes_it()
    {
        var text = DirectoryTrust.Describe("/var/lib/bastion", DirectoryProblem.WritableByGroupOrOthers,
            new PathOwnership(0, Mode700 | UnixFileMode.GroupWrite | UnixFileMode.GroupRead | UnixFileMode.GroupExecute, true), 0, nameOf: Names);
        Assert.Equal("/var/lib/bastion: refused: mode 0770 lets group or others write into it (they could replace what bastiond writes there) — chmod go-w /var/lib/bastion", text);
    }

    [Fact]
    public void Atomic_writes_set_the_mode_despite_the_umask_and_leave_no_temp_file()
    {
        var dir = Directory.CreateTempSubdirectory("bastion-atomic-").FullName;
        try
        {
            var path = Path.Combine(dir, "status.json");
            AtomicFile.Write(path, "{}"u8, AtomicFile.Public);
            Assert.Equal(AtomicFile.Public, File.GetUnixFileMode(path));
            AtomicFile.Write(path, "{\"a\":1}"u8, AtomicFile.Public);
            Assert.Equal("{\"a\":1}", File.ReadAllText(path));
            Assert.Equal(["status.json"], Directory.GetFileSystemEntries(dir).Select(Path.GetFileName));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Atomic_writes_replace_a_symlink_planted_at_the_target_instead_of_writing_through_it()
    {
        var dir = Directory.CreateTempSubdirectory("bastion-atomic-").FullName;
        try
        {
            var victim = Path.Combine(dir, "victim");
            File.WriteAllText(victim, "precious");
            File.SetUnixFileMode(victim, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            var path = Path.Combine(dir, "status.json");
            File.CreateSymbolicLink(path, victim);
            AtomicFile.Write(path, "{}"u8, AtomicFile.Public);
            Assert.Equal("precious", File.ReadAllText(victim));
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(victim));
            Assert.Null(new FileInfo(path).LinkTarget);
            Assert.Equal("{}", File.ReadAllText(path));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
