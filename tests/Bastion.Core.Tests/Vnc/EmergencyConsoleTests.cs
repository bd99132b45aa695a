using Bastion.Config;
using Bastion.Vnc;

namespace Bastion.Tests.Vnc;

/// <summary>The built-in console: a full-screen xterm with the system login, its font sized to the screen.</summary>
public sealed class EmergencyConsoleTests
{
    [Theory]
    [InlineData(1280, 800, 12)]
    [InlineData(1920, 1080, 17)]
    [InlineData(800, 600, 9)]
    [InlineData(320, 240, 6)]
    [InlineData(7680, 4320, 32)]
    public void The_font_gives_about_40_lines_and_at_least_80_columns_where_the_width_allows(int width, int height, int points)
    {
        Assert.Equal(points, EmergencyConsole.FontSize(width, height));
        var cell = points * 96.0 / 72.0;
        if (points is > 6 and < 32)
        {
            Assert.InRange(height / (cell * 1.17), 40, 48);
            Assert.True(width / (cell * 0.602) >= 80);
        }
    }

    [Fact]
    public void The_console_fills_the_screen_and_runs_login_and_its_second_console_runs_login_too()
    {
        var command = EmergencyConsole.Command("1280x800");
        Assert.Equal("/usr/bin/xterm", command[0]);
        Assert.Contains("-maximized", command);
        Assert.Equal(["-e", "/bin/login"], command.TakeLast(2));
        Assert.Equal("12", command[command.ToList().IndexOf("-fs") + 1]);
        Assert.Equal(EmergencyConsole.Font, command[command.ToList().IndexOf("-fa") + 1]);
        var translations = command[command.ToList().IndexOf("-xrm") + 1];
        Assert.StartsWith("XTerm*VT100.translations: #override Ctrl Shift <Key>N: spawn-new-terminal(-maximized, ", translations, StringComparison.Ordinal);
        Assert.EndsWith(", -e, /bin/login)", translations, StringComparison.Ordinal);
    }

    [Fact]
    public void The_default_session_is_the_built_in_console() => Assert.True(new VncConfig().Session.IsEmpty);
}
