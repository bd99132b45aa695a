using System.Diagnostics;
using System.Security.Cryptography;
using Bastion.Daemon.Tor;
using Bastion.IntegrationTests.Infrastructure;
using Bastion.Tor;

namespace Bastion.IntegrationTests.Tor;

/// <summary>
/// The cookie reader on real files: what a hostile local user could put where bastiond expects tor's cookie (a
/// symlink to a secret, a FIFO that never delivers, an endless device, a big file, a file of their own).
/// </summary>
public sealed class TorCookieFileTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    [Fact]
    public void A_regular_32_byte_file_of_bastionds_own_user_is_read()
    {
        using var root = new TempRoot();
        var cookie = RandomNumberGenerator.GetBytes(32);
        var path = root.File("control_auth_cookie");
        File.WriteAllBytes(path, cookie);
        Assert.Equal(cookie, TorCookieFile.Read(path));
    }

    [Fact]
    public void A_symlink_is_refused_even_when_it_points_at_a_32_byte_file()
    {
        using var root = new TempRoot();
        var target = root.File("real");
        File.WriteAllBytes(target, RandomNumberGenerator.GetBytes(32));
        var link = root.File("control_auth_cookie");
        File.CreateSymbolicLink(link, target);
        var e = Assert.Throws<TorProtocolException>(() => TorCookieFile.Read(link));
        Assert.Contains("symbolic link", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_fifo_is_refused_at_once_instead_of_blocking_the_reader()
    {
        using var root = new TempRoot();
        var fifo = root.File("control_auth_cookie");
        using (var mkfifo = Process.Start("mkfifo", fifo))
        {
            await mkfifo.WaitForExitAsync().WaitAsync(Patience);
            Assert.Equal(0, mkfifo.ExitCode);
        }
        var read = Task.Run(() => TorCookieFile.Read(fifo));
        var e = await Assert.ThrowsAsync<TorProtocolException>(() => read.WaitAsync(Patience));
        Assert.Contains("not a regular file", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("/dev/zero")]
    [InlineData("/proc/self")]
    public void A_device_or_directory_is_refused(string path)
    {
        var e = Assert.Throws<TorProtocolException>(() => TorCookieFile.Read(path));
        Assert.Contains(path, e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(31)]
    [InlineData(33)]
    [InlineData(1_000_000)]
    public void A_file_of_any_other_size_is_refused_without_telling_its_size(int size)
    {
        using var root = new TempRoot();
        var path = root.File("control_auth_cookie");
        File.WriteAllBytes(path, new byte[size]);
        var e = Assert.Throws<TorProtocolException>(() => TorCookieFile.Read(path));
        Assert.Contains("is not 32 bytes long", e.Message, StringComparison.Ordinal);
        // The message names the file, whose random directory name may hold the same digits: the size is looked for in the rest.
        var rest = e.Message.Replace(path, "", StringComparison.Ordinal).Replace("32", "", StringComparison.Ordinal);
        Assert.DoesNotContain(size.ToString(System.Globalization.CultureInfo.InvariantCulture), rest, StringComparison.Ordinal);
    }

    [Fact]
    public void A_file_owned_by_another_unprivileged_user_is_refused()
    {
        Assert.True(Environment.UserName == "root", "this test runs as root (it gives a file to nobody)");
        using var root = new TempRoot();
        var path = root.File("control_auth_cookie");
        File.WriteAllBytes(path, RandomNumberGenerator.GetBytes(32));
        using (var chown = Process.Start("chown", ["nobody", path]))
        {
            chown.WaitForExit();
            Assert.Equal(0, chown.ExitCode);
        }
        var e = Assert.Throws<TorProtocolException>(() => TorCookieFile.Read(path));
        Assert.Contains("refusing to use it", e.Message, StringComparison.Ordinal);
    }
}
