using Bastion.Vnc;

namespace Bastion.Tests.Vnc;

/// <summary>Known answers from the real <c>printf 'PASSWORD\n' | vncpasswd -f | xxd -p</c> (TigerVNC 1.12) on this machine.</summary>
public sealed class VncPasswordFileTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("bastion-vncpasswd-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData("password", "dbd83cfd727a1458")]
    [InlineData("secret12", "24b5ae4ce15503c6")]
    [InlineData("abcdef", "412ea2b7a75db6aa")]
    [InlineData("Xy7#q!", "b20dc14b32332f8b")]
    [InlineData("abc", "9c0a172d3482e122")]
    public void Encode_writes_what_vncpasswd_writes(string password, string vncpasswd)
    {
        Assert.Equal(vncpasswd, Convert.ToHexStringLower(VncPasswordFile.Encode(password)));
    }

    [Theory]
    [InlineData("dbd83cfd727a1458", "password")]
    [InlineData("9c0a172d3482e122", "abc")]
    [InlineData("e520dd266ad75a93", "longerth")] // vncpasswd -f of "longerthan8": it keeps the first 8 characters
    [InlineData("dbd83cfd727a14583b33820a27ba4dd0", "password")] // with a view-only password after it ("viewonly")
    public void Decode_reads_what_vncpasswd_writes(string content, string password)
    {
        Assert.Equal(password, VncPasswordFile.Decode(Convert.FromHexString(content)));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(7)]
    [InlineData(9)]
    [InlineData(32)]
    public void Content_of_the_wrong_length_is_not_a_password_file_and_the_message_says_how_to_make_one(int length)
    {
        var e = Assert.Throws<InvalidDataException>(() => VncPasswordFile.Decode(new byte[length]));
        Assert.Contains($"{length} bytes", e.Message, StringComparison.Ordinal);
        Assert.Contains("vncpasswd -f >", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Content_that_decodes_to_an_empty_password_is_refused()
    {
        // printf '\n' | vncpasswd -f: it accepts an empty password; Xvnc then has no password to check.
        var e = Assert.Throws<InvalidDataException>(() => VncPasswordFile.Decode(Convert.FromHexString("5ab2cdc0badcaf13")));
        Assert.Contains("empty password", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("")]
    [InlineData("123456789")]
    [InlineData("pass\tword")]
    [InlineData("pässwort")]
    [InlineData("xxxxpppp")]
    public void Encode_refuses_what_would_not_work_and_never_repeats_the_password(string password)
    {
        var e = Assert.Throws<ArgumentException>(() => VncPasswordFile.Encode(password));
        if (password.Length > 0)
        {
            Assert.DoesNotContain(password, e.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void A_password_longer_than_eight_characters_is_refused_with_the_reason()
    {
        var e = Assert.Throws<ArgumentException>(() => VncPasswordFile.Encode("correct horse"));
        Assert.Contains("at most 8 characters", e.Message, StringComparison.Ordinal);
        Assert.Contains("only the first 8", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Every_printable_ASCII_character_round_trips()
    {
        for (var c = ' '; c <= '~'; c++)
        {
            var password = new string(c, 3) + "Ab1";
            Assert.Equal(password, VncPasswordFile.Decode(VncPasswordFile.Encode(password)));
        }
    }

    [Fact]
    public void Generated_passwords_are_eight_characters_without_look_alikes_and_differ()
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < 200; i++)
        {
            var password = VncPasswordFile.Generate();
            Assert.Equal(8, password.Length);
            Assert.All(password, c => Assert.Contains(c, VncPasswordFile.Alphabet));
            Assert.Equal(password, VncPasswordFile.Decode(VncPasswordFile.Encode(password)));
            seen.Add(password);
        }
        Assert.Equal(200, seen.Count);
        Assert.DoesNotContain(VncPasswordFile.Alphabet, c => c is '0' or 'O' or '1' or 'l' or 'I');
    }

    [Fact]
    public void Write_creates_the_directory_0700_and_the_file_0600_with_vncpasswd_content_and_no_temp_file_left()
    {
        var path = Path.Combine(_dir, "state", "vnc", "passwd");
        VncPasswordFile.Write(path, "password");

        Assert.Equal("dbd83cfd727a1458", Convert.ToHexStringLower(File.ReadAllBytes(path)));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(Path.GetDirectoryName(path)!));
        Assert.Equal(["passwd"], Directory.GetFiles(Path.GetDirectoryName(path)!).Select(Path.GetFileName));
        Assert.Equal("password", VncPasswordFile.Read(path));
    }

    [Fact]
    public void Write_replaces_an_existing_file_and_makes_it_private()
    {
        var path = Path.Combine(_dir, "passwd");
        File.WriteAllText(path, "old");
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);

        VncPasswordFile.Write(path, "secret12");

        Assert.Equal("secret12", VncPasswordFile.Read(path));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
    }

    [Fact]
    public void Reading_a_missing_file_names_it_and_the_command_that_makes_it()
    {
        var path = Path.Combine(_dir, "missing");
        var e = Assert.Throws<InvalidDataException>(() => VncPasswordFile.Read(path));
        Assert.Equal($"{path}: no such VNC password file; create it with: vncpasswd -f > {path} (and chmod 600 {path})", e.Message);
    }

    [Fact]
    public void Reading_a_file_that_is_not_a_password_file_names_it_and_the_fix()
    {
        var path = Path.Combine(_dir, "passwd");
        File.WriteAllText(path, "password\n"); // the classic mistake: the password in clear
        var e = Assert.Throws<InvalidDataException>(() => VncPasswordFile.Read(path));
        Assert.Equal($"{path}: not a VNC password file: 9 bytes, vncpasswd writes 8 (or 16 with a view-only password); check that this is the file you meant — a VNC password file is made with: vncpasswd -f > /path/of/a/new/file", e.Message);
        Assert.DoesNotContain($"> {path}", e.Message, StringComparison.Ordinal); // never advice to overwrite a file that may be something else (/etc/passwd)
        Assert.DoesNotContain("password\n", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Reading_a_large_file_does_not_read_it_all()
    {
        var path = Path.Combine(_dir, "big");
        File.WriteAllBytes(path, new byte[1 << 20]);
        var e = Assert.Throws<InvalidDataException>(() => VncPasswordFile.Read(path));
        Assert.Equal($"{path}: not a VNC password file (1048576 bytes; vncpasswd writes 8 or 16); check that this is the file you meant — a VNC password file is made with: vncpasswd -f > /path/of/a/new/file (never over a file you did not make that way)", e.Message);
    }

    [Fact]
    public void Reading_a_directory_says_it_is_one()
    {
        var e = Assert.Throws<InvalidDataException>(() => VncPasswordFile.Read(_dir));
        Assert.Equal($"{_dir}: a directory, not a VNC password file; create one with: vncpasswd -f > FILE and point vnc.passwordFile at it", e.Message);
    }
}
