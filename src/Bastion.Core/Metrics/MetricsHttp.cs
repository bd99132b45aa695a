using System.Globalization;
using System.Text;

namespace Bastion.Metrics;

/// <summary>What the metrics endpoint answers to one request.</summary>
public enum MetricsRoute
{
    /// <summary>GET /metrics: the exposition.</summary>
    Metrics,

    /// <summary>Any other path.</summary>
    NotFound,

    /// <summary>/metrics with a method other than GET.</summary>
    MethodNotAllowed,

    /// <summary>Not an HTTP/1.x request line, or a header line without a colon.</summary>
    BadRequest,

    /// <summary>The request head did not end within <see cref="MetricsHttp.MaxRequestHeadBytes"/>.</summary>
    HeadTooLarge,
}

/// <summary>A parsed request: where it goes, and which format the scraper asked for.</summary>
public sealed record MetricsRequest(MetricsRoute Route, ExpositionFormat Format);

/// <summary>
/// The small part of HTTP/1.1 the metrics endpoint speaks: one request per connection (the answer says
/// <c>Connection: close</c>), a request head of bounded size, no body read. Pure: the socket side is in the daemon.
/// </summary>
public static class MetricsHttp
{
    /// <summary>Prometheus sends a few hundred bytes; 8 KiB is generous and bounds what a stranger can make us hold.</summary>
    public const int MaxRequestHeadBytes = 8 * 1024;

    private static readonly byte[] HeadEnd = "\r\n\r\n"u8.ToArray();

    /// <summary>Where the head ends (index after the blank line) in what was read so far, or -1. Bare LF lines are accepted too.</summary>
    public static int HeadLength(ReadOnlySpan<byte> received)
    {
        var crlf = received.IndexOf(HeadEnd);
        var lf = received.IndexOf("\n\n"u8);
        return (crlf, lf) switch
        {
            (< 0, < 0) => -1,
            (< 0, _) => lf + 2,
            (_, < 0) => crlf + 4,
            _ => Math.Min(crlf + 4, lf + 2),
        };
    }

    /// <summary>Parses a complete request head (ASCII; anything else is a bad request).</summary>
    public static MetricsRequest Parse(ReadOnlySpan<byte> head)
    {
        if (head.Length > MaxRequestHeadBytes)
        {
            return new MetricsRequest(MetricsRoute.HeadTooLarge, ExpositionFormat.PrometheusText);
        }
        foreach (var b in head)
        {
            if (b > 0x7e || (b < 0x20 && b is not (byte)'\r' and not (byte)'\n' and not (byte)'\t'))
            {
                return Bad;
            }
        }
        var lines = Encoding.ASCII.GetString(head).Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n');
        var requestLine = lines[0].Split(' ');
        if (requestLine.Length != 3 || requestLine[0].Length == 0 || !requestLine[2].StartsWith("HTTP/1.", StringComparison.Ordinal))
        {
            return Bad;
        }
        string? accept = null;
        foreach (var line in lines.AsSpan(1))
        {
            if (line.Length == 0)
            {
                continue;
            }
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0)
            {
                return Bad;
            }
            if (line.AsSpan(0, colon).Trim().Equals("Accept", StringComparison.OrdinalIgnoreCase))
            {
                accept = accept is null ? line[(colon + 1)..] : accept + "," + line[(colon + 1)..];
            }
        }
        var target = requestLine[1];
        var query = target.IndexOf('?', StringComparison.Ordinal);
        var path = query < 0 ? target : target[..query];
        var format = ChooseFormat(accept);
        if (path != "/metrics")
        {
            return new MetricsRequest(MetricsRoute.NotFound, format);
        }
        return new MetricsRequest(requestLine[0] == "GET" ? MetricsRoute.Metrics : MetricsRoute.MethodNotAllowed, format);
    }

    private static MetricsRequest Bad => new(MetricsRoute.BadRequest, ExpositionFormat.PrometheusText);

    /// <summary>
    /// OpenMetrics when the Accept header prefers <c>application/openmetrics-text</c> (version 1.0.0 or unversioned)
    /// at least as much as the text format; the text format otherwise (also without an Accept header).
    /// </summary>
    public static ExpositionFormat ChooseFormat(string? accept)
    {
        if (string.IsNullOrWhiteSpace(accept))
        {
            return ExpositionFormat.PrometheusText;
        }
        double openMetrics = 0, text = 0;
        foreach (var range in accept.Split(','))
        {
            var parts = range.Split(';');
            var type = parts[0].Trim();
            var q = 1.0;
            string? version = null;
            foreach (var parameter in parts.AsSpan(1))
            {
                var eq = parameter.IndexOf('=', StringComparison.Ordinal);
                if (eq < 0)
                {
                    continue;
                }
                var key = parameter[..eq].Trim();
                var value = parameter[(eq + 1)..].Trim().Trim('"');
                if (key.Equals("q", StringComparison.OrdinalIgnoreCase))
                {
                    q = double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var parsed) ? Math.Clamp(parsed, 0, 1) : 0;
                }
                else if (key.Equals("version", StringComparison.OrdinalIgnoreCase))
                {
                    version = value;
                }
            }
            if (type.Equals("application/openmetrics-text", StringComparison.OrdinalIgnoreCase) && version is null or "1.0.0")
            {
                openMetrics = Math.Max(openMetrics, q);
            }
            else if (type.Equals("text/plain", StringComparison.OrdinalIgnoreCase) || type is "*/*" or "text/*")
            {
                text = Math.Max(text, q);
            }
        }
        return openMetrics > 0 && openMetrics >= text ? ExpositionFormat.OpenMetrics : ExpositionFormat.PrometheusText;
    }

    /// <summary>A whole response: status line, headers (Content-Length, Connection: close) and body.</summary>
    public static byte[] Response(int status, string contentType, string body, string? allow = null)
    {
        var reason = status switch
        {
            200 => "OK",
            400 => "Bad Request",
            404 => "Not Found",
            405 => "Method Not Allowed",
            408 => "Request Timeout",
            431 => "Request Header Fields Too Large",
            503 => "Service Unavailable",
            _ => "Error",
        };
        var bodyBytes = Encoding.UTF8.GetBytes(body);
        var head = new StringBuilder()
            .Append(CultureInfo.InvariantCulture, $"HTTP/1.1 {status} {reason}\r\n")
            .Append(CultureInfo.InvariantCulture, $"Content-Type: {contentType}\r\n")
            .Append(CultureInfo.InvariantCulture, $"Content-Length: {bodyBytes.Length}\r\n");
        if (allow is not null)
        {
            head.Append(CultureInfo.InvariantCulture, $"Allow: {allow}\r\n");
        }
        head.Append("Connection: close\r\n\r\n");
        var headBytes = Encoding.ASCII.GetBytes(head.ToString());
        var response = new byte[headBytes.Length + bodyBytes.Length];
        headBytes.CopyTo(response, 0);
        bodyBytes.CopyTo(response, headBytes.Length);
        return response;
    }

    /// <summary>The response to a request that is not GET /metrics (plain text, says what is served).</summary>
    public static byte[] Refusal(MetricsRoute route) => route switch
    {
        MetricsRoute.NotFound => Response(404, "text/plain; charset=utf-8", "not found: only GET /metrics is served\n"),
        MetricsRoute.MethodNotAllowed => Response(405, "text/plain; charset=utf-8", "method not allowed: only GET /metrics is served\n", allow: "GET"),
        MetricsRoute.HeadTooLarge => Response(431, "text/plain; charset=utf-8", "request head too large\n"),
        _ => Response(400, "text/plain; charset=utf-8", "bad request\n"),
    };
}
