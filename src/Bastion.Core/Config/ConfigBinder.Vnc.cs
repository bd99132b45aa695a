using System.Globalization;

namespace Bastion.Config;

// vnc:
internal sealed partial class ConfigBinder
{
    private const int MaxGeometry = 16384;

    private VncConfig? BindVnc(KeyedMapping? m)
    {
        if (m is null)
        {
            return null;
        }
        var d = new VncConfig();
        var mode = Choice(Get(m, "mode"), ConfigChoices.VncMode);
        _facts.VncRuns = mode is VncMode.Always or VncMode.Fallback;
        var sessionAt = Get(m, "session");
        var session = TextList(sessionAt);
        if (sessionAt is { } at && session is { IsEmpty: true })
        {
            errors.Add(at, "is empty",
                "write the command and its arguments, e.g. [/usr/bin/xterm, -e, /bin/login], or remove session: for the built-in full-screen console");
        }
        var endpointAt = Get(m, "endpoint");
        var endpoint = Text(endpointAt);
        if (endpointAt is { } endpointWhere && endpoint is not null)
        {
            _facts.VncEndpoint = (endpointWhere, endpoint);
        }
        else if (endpointAt is null && mode is VncMode.Always or VncMode.Fallback)
        {
            errors.Add(m.Node, m.PathOf("endpoint"), $"is missing; mode {(mode is VncMode.Always ? "always" : "fallback")} needs the tls: endpoint that fronts the desktop",
                "add it, e.g. endpoint: vnc (the name of a tls: entry)");
        }
        return new VncConfig
        {
            Mode = mode ?? d.Mode,
            Display = Integer(Get(m, "display"), 0, 999) ?? d.Display,
            Geometry = Geometry(Get(m, "geometry")) ?? d.Geometry,
            Executable = FilePath(Get(m, "executable")) ?? d.Executable,
            Session = session ?? d.Session,
            PasswordFile = PrivateFile(Get(m, "passwordFile"),
                path => $"fix the path, create it with vncpasswd {path}, or remove passwordFile to let Bastion generate one"),
            Endpoint = endpoint,
            StockViewers = StockViewers(Get(m, "stockViewers")) ?? d.StockViewers,
            Fallback = BindFallback(m, Section(m, "fallback"), mode),
        };
    }

    private VncFallbackConfig BindFallback(KeyedMapping vnc, KeyedMapping? m, VncMode? mode)
    {
        var d = new VncFallbackConfig();
        var checkAt = Get(m, "check");
        var check = Text(checkAt);
        if (checkAt is { } checkWhere && check is not null)
        {
            _facts.VncCheck = (checkWhere, check);
        }
        else if (checkAt is null && mode is VncMode.Fallback)
        {
            errors.Add(m?.Node ?? vnc.Node, vnc.PathOf("fallback.check"), "is missing; mode fallback needs the check that watches sshd",
                "add it under fallback:, e.g. check: sshd (the name of a checks: entry)");
        }
        return new VncFallbackConfig
        {
            Check = check,
            Failures = Integer(Get(m, "failures"), 1) ?? d.Failures,
            Grace = Duration(Get(m, "grace")) ?? d.Grace,
        };
    }

    private VncStockViewers? StockViewers(Located? at)
    {
        var value = Choice(at, ConfigChoices.VncStockViewers);
        if (value is VncStockViewers.X509Vnc)
        {
            _facts.VncX509Vnc = at;
        }
        return value;
    }

    /// <summary><c>WIDTHxHEIGHT</c>, e.g. <c>1280x800</c>.</summary>
    private string? Geometry(Located? value)
    {
        if (value is not { } at || Text(at) is not { } text)
        {
            return null;
        }
        var x = text.IndexOf('x', StringComparison.Ordinal);
        if (x > 0
            && int.TryParse(text.AsSpan(0, x), NumberStyles.None, CultureInfo.InvariantCulture, out var width)
            && int.TryParse(text.AsSpan(x + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var height))
        {
            if (width is >= 1 and <= MaxGeometry && height is >= 1 and <= MaxGeometry)
            {
                return text;
            }
            errors.Add(at, $"{text} is out of range", $"use a width and height from 1 to {MaxGeometry}, e.g. 1280x800");
            return null;
        }
        errors.Add(at, $"'{text}' is not WIDTHxHEIGHT", "write e.g. 1280x800");
        return null;
    }
}
