using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;
using Bastion.IntegrationTests.Infrastructure;

namespace Bastion.IntegrationTests.Metrics;

/// <summary>Raw HTTP/1.1 against bastiond's metrics endpoint (TCP or Unix socket), every read under a deadline.</summary>
internal static partial class MetricsScrape
{
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [GeneratedRegex(@"metrics: serving GET /metrics on (\S+)$")]
    private static partial Regex ServingLine();

    /// <summary>The address bastiond logged (it binds port 0 in the tests, so the port is only known from the log).</summary>
    public static async Task<string> AddressAsync(BastiondProcess daemon)
    {
        var line = await daemon.Log.WaitForLineAsync(l => ServingLine().IsMatch(l), Patience, "metrics: serving GET /metrics on");
        return ServingLine().Match(line).Groups[1].Value;
    }

    public static EndPoint EndPointOf(string address) =>
        address.StartsWith("unix:", StringComparison.Ordinal)
            ? new UnixDomainSocketEndPoint(address["unix:".Length..])
            : IPEndPoint.Parse(address);

    public static async Task<Socket> ConnectAsync(string address)
    {
        var endPoint = EndPointOf(address);
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, endPoint is UnixDomainSocketEndPoint ? ProtocolType.Unspecified : ProtocolType.Tcp);
        await socket.ConnectAsync(endPoint).WaitAsync(Patience);
        return socket;
    }

    /// <summary>Sends <paramref name="request"/> as is and reads the whole answer (the endpoint closes after one).</summary>
    public static async Task<string> SendAsync(string address, string request)
    {
        using var socket = await ConnectAsync(address);
        await socket.SendAsync(Encoding.ASCII.GetBytes(request)).WaitAsync(Patience);
        return await ReadToEndAsync(socket);
    }

    public static async Task<string> ReadToEndAsync(Socket socket)
    {
        var received = new MemoryStream();
        var buffer = new byte[16 * 1024];
        while (true)
        {
            int n;
            try
            {
                n = await socket.ReceiveAsync(buffer).WaitAsync(Patience);
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionReset)
            {
                break;
            }
            if (n == 0)
            {
                break;
            }
            received.Write(buffer, 0, n);
        }
        return Encoding.UTF8.GetString(received.ToArray());
    }

    /// <summary>GET /metrics; returns the status line, the headers and the body.</summary>
    public static async Task<(string Status, string Headers, string Body)> GetAsync(string address, string path = "/metrics", string? accept = null)
    {
        var response = await SendAsync(address, $"GET {path} HTTP/1.1\r\nHost: bastion\r\n{(accept is null ? "" : "Accept: " + accept + "\r\n")}\r\n");
        var split = response.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        Assert.True(split > 0, "no HTTP response: " + response);
        var head = response[..split];
        var firstLine = head.IndexOf("\r\n", StringComparison.Ordinal);
        return (firstLine < 0 ? head : head[..firstLine], head, response[(split + 4)..]);
    }
}
