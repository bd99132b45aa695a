using Bastion.Vnc;

namespace Bastion.Tests.Vnc;

/// <summary>
/// The expected bytes are libXau's format (FamilyWild, empty address, display, name, data; big-endian u16 lengths). By hand
/// on this machine: <c>xauth -f FILE list</c> showed the file written by <see cref="XAuthority.Write"/> as
/// <c>#ffff##:437  MIT-MAGIC-COOKIE-1  00112233445566778899aabbccddeeff</c>, a real Xvnc 1.12 started with <c>-auth FILE</c>
/// let <c>XAUTHORITY=FILE xdpyinfo -display :437</c> in and refused it without the file.
/// </summary>
public sealed class XAuthorityTests : IDisposable
{
    private static readonly byte[] Cookie = Convert.FromHexString("00112233445566778899aabbccddeeff");
    private readonly string _dir = Directory.CreateTempSubdirectory("bastion-xauth-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void An_entry_is_a_wildcard_family_with_an_empty_address_the_display_number_and_the_cookie()
    {
        Assert.Equal(
            "ffff" + "0000" + "0003" + "343337" + "0012" + Convert.ToHexStringLower("MIT-MAGIC-COOKIE-1"u8) + "0010" + "00112233445566778899aabbccddeeff",
            Convert.ToHexStringLower(XAuthority.Entry(437, Cookie)));
    }

    [Fact]
    public void Display_zero_is_written_as_the_digit_zero()
    {
        var entry = XAuthority.Entry(0, Cookie);
        Assert.Equal("000130", Convert.ToHexStringLower(entry.AsSpan(4, 3)));
    }

    [Fact]
    public void A_cookie_of_the_wrong_length_or_a_negative_display_is_refused()
    {
        Assert.Throws<ArgumentException>(() => XAuthority.Entry(5, new byte[15]));
        Assert.Throws<ArgumentOutOfRangeException>(() => XAuthority.Entry(-1, Cookie));
    }

    [Fact]
    public void New_cookies_are_16_random_bytes()
    {
        var a = XAuthority.NewCookie();
        var b = XAuthority.NewCookie();
        Assert.Equal(16, a.Length);
        Assert.NotEqual(a, b);
    }

    [Fact]
    public void Write_makes_a_0600_file_with_the_entry_and_replaces_an_old_one()
    {
        var path = Path.Combine(_dir, "Xauthority");
        XAuthority.Write(path, 5, XAuthority.NewCookie());
        XAuthority.Write(path, 5, Cookie);

        Assert.Equal(XAuthority.Entry(5, Cookie), File.ReadAllBytes(path));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        Assert.Equal(["Xauthority"], Directory.GetFiles(_dir).Select(Path.GetFileName));
    }
}
