using System.Globalization;

namespace Bastion.Vnc;

/// <summary>
/// The desktop's default session (vnc.session unset): one xterm that fills the screen, running the system's login, in
/// DejaVu Sans Mono (fonts-dejavu-core) at a size made for the geometry — about 40 lines, and at least 80 columns where the
/// width allows. A console an admin can work in for an hour.
/// </summary>
/// <remarks>
/// <para>
/// No window manager: <c>-maximized</c> makes xterm size itself to the root window, so the terminal covers the whole screen.
/// X's default focus follows the pointer, and the pointer can only be over the terminal: every keystroke reaches it.
/// </para>
/// <para>
/// A second shell: Ctrl+Shift+N (xterm's <c>spawn-new-terminal</c>) opens another such console — with its own
/// <c>login</c>, never a shell that skips it — on top of the first; logging out of it (or closing it) shows the first again.
/// </para>
/// </remarks>
public static class EmergencyConsole
{
    public const string Font = "DejaVu Sans Mono";
    public const string Title = "Bastion emergency console";

    /// <summary>Font size in points for a <c>WIDTHxHEIGHT</c> screen: ~40 lines, ≥ 80 columns if possible, 6–32 pt.</summary>
    /// <remarks>At Xvnc's 96 dpi a point is 4/3 pixel; DejaVu Sans Mono's cell is 0.602 em wide and ~1.17 em high.</remarks>
    public static int FontSize(int width, int height)
    {
        const double PixelsPerPoint = 96.0 / 72.0;
        var forLines = height / (40 * 1.17 * PixelsPerPoint);
        var forColumns = width / (80 * 0.602 * PixelsPerPoint);
        return (int)Math.Clamp(Math.Floor(Math.Min(forLines, forColumns)), 6, 32);
    }

    /// <summary>The command: <c>/usr/bin/xterm</c> and its arguments.</summary>
    public static IReadOnlyList<string> Command(string geometry)
    {
        ArgumentNullException.ThrowIfNull(geometry);
        var x = geometry.IndexOf('x', StringComparison.Ordinal);
        var width = int.Parse(geometry.AsSpan(0, x), NumberStyles.None, CultureInfo.InvariantCulture);
        var height = int.Parse(geometry.AsSpan(x + 1), NumberStyles.None, CultureInfo.InvariantCulture);
        var size = FontSize(width, height).ToString(CultureInfo.InvariantCulture);
        string[] look = ["-maximized", "-fa", Font, "-fs", size, "-bg", "black", "-fg", "gray90", "-bw", "0", "-title", Title, "-sl", "5000"];
        // The second console gets the same look and its own login (spawn-new-terminal's parameters are its command line).
        var spawn = "spawn-new-terminal(" + string.Join(", ", look.Select(a => a.Replace(",", "", StringComparison.Ordinal))) + ", -e, /bin/login)";
        return
        [
            "/usr/bin/xterm",
            .. look,
            "-xrm", "XTerm*VT100.translations: #override Ctrl Shift <Key>N: " + spawn,
            "-e", "/bin/login",
        ];
    }
}
