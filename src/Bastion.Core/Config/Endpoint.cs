using System.Globalization;
using System.Net;

namespace Bastion.Config;

/// <summary>A host (name, IPv4 or IPv6 literal) and a TCP port, written <c>host:port</c> or <c>[v6]:port</c>.</summary>
public sealed record Endpoint(string Host, int Port)
{
    /// <summary>Parses <c>host:port</c>; port 0 is allowed only when <paramref name="allowPortZero"/> (listeners in tests).</summary>
    public static bool TryParse(string text, bool allowPortZero, out Endpoint? endpoint, out string error)
    {
        endpoint = null;
        text = text.Trim();
        string host;
        string portText;
        if (text.StartsWith('['))
        {
            var close = text.IndexOf(']', StringComparison.Ordinal);
            if (close < 0 || close + 1 >= text.Length || text[close + 1] != ':')
            {
                error = $"'{text}' is not host:port — write an IPv6 address as [::1]:2222";
                return false;
            }
            host = text[1..close];
            portText = text[(close + 2)..];
            if (!IPAddress.TryParse(host, out _))
            {
                error = $"'{host}' is not an IPv6 address";
                return false;
            }
        }
        else
        {
            var colon = text.LastIndexOf(':');
            if (colon <= 0 || text.IndexOf(':', StringComparison.Ordinal) != colon)
            {
                error = colon < 0
                    ? $"'{text}' has no port — write host:port, e.g. 127.0.0.1:2222"
                    : $"'{text}' is not host:port — write an IPv6 address as [::1]:2222";
                return false;
            }
            host = text[..colon];
            portText = text[(colon + 1)..];
        }
        if (host.Length == 0)
        {
            error = $"'{text}' has no host — write host:port, e.g. 127.0.0.1:2222";
            return false;
        }
        if (!int.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out var port))
        {
            error = $"port '{portText}' is not a number — write host:port, e.g. 127.0.0.1:2222";
            return false;
        }
        var min = allowPortZero ? 0 : 1;
        if (port < min || port > 65535)
        {
            error = $"port {port} is out of range — use {min}..65535";
            return false;
        }
        endpoint = new Endpoint(host, port);
        error = "";
        return true;
    }

    public override string ToString() =>
        Host.Contains(':', StringComparison.Ordinal) ? $"[{Host}]:{Port}" : $"{Host}:{Port}";
}
