using System.Net;
using System.Net.Sockets;
using System.Text;
using Bastion.Daemon.Tor;
using Bastion.IntegrationTests.Infrastructure;
using Bastion.Tor;

namespace Bastion.IntegrationTests.Tor;

/// <summary>
/// What bastiond sends to a control port that is not the tor it expects. The peer here is deliberately not tor: a
/// listener that names a file of its choosing as the "cookie" and offers only plain COOKIE authentication.
/// </summary>
public sealed class TorAuthenticationTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task A_port_that_offers_only_plain_cookie_auth_with_a_file_it_names_never_receives_that_files_bytes()
    {
        using var root = new TempRoot();
        var secret = new byte[SafeCookie.CookieLength];
        Array.Fill(secret, (byte)0xAB);
        var secretFile = root.File("some-secret");
        await File.WriteAllBytesAsync(secretFile, secret);

        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var received = new StringBuilder();
        var peer = Task.Run(async () =>
        {
            using var client = await listener.AcceptTcpClientAsync();
            using var stream = client.GetStream();
            using var reader = new StreamReader(stream, Encoding.ASCII);
            await using var writer = new StreamWriter(stream, Encoding.ASCII) { NewLine = "\r\n", AutoFlush = true };
            while (await reader.ReadLineAsync() is { } line)
            {
                lock (received)
                {
                    received.AppendLine(line);
                }
                if (line.StartsWith("PROTOCOLINFO", StringComparison.Ordinal))
                {
                    await writer.WriteAsync(
                        $"250-PROTOCOLINFO 1\r\n250-AUTH METHODS=COOKIE COOKIEFILE=\"{secretFile}\"\r\n250-VERSION Tor=\"0.4.8.9\"\r\n250 OK\r\n");
                }
                else
                {
                    await writer.WriteAsync("250 OK\r\n");
                }
            }
        });

        var connection = await TorControlConnection.ConnectAsync("127.0.0.1", port, CancellationToken.None).WaitAsync(Patience);
        await using (connection)
        {
            var refusal = await Assert.ThrowsAsync<TorProtocolException>(
                () => TorAuthentication.AuthenticateAsync(connection, null, CancellationToken.None).WaitAsync(Patience));
            Assert.Contains("not SAFECOOKIE", refusal.Message, StringComparison.Ordinal);
        }
        await peer.WaitAsync(Patience);
        var sent = received.ToString();
        Assert.Contains("PROTOCOLINFO", sent, StringComparison.Ordinal);
        Assert.DoesNotContain("AUTHENTICATE", sent, StringComparison.Ordinal);
        Assert.DoesNotContain(Convert.ToHexString(secret), sent, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task The_cookie_file_a_port_names_is_never_read_only_the_configured_one()
    {
        using var root = new TempRoot();
        var configured = root.File("configured_cookie");
        await File.WriteAllBytesAsync(configured, new byte[SafeCookie.CookieLength]);
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var peer = Task.Run(async () =>
        {
            using var client = await listener.AcceptTcpClientAsync();
            using var stream = client.GetStream();
            using var reader = new StreamReader(stream, Encoding.ASCII);
            await using var writer = new StreamWriter(stream, Encoding.ASCII) { NewLine = "\r\n", AutoFlush = true };
            while (await reader.ReadLineAsync() is { } line)
            {
                if (line.StartsWith("PROTOCOLINFO", StringComparison.Ordinal))
                {
                    await writer.WriteAsync("250-PROTOCOLINFO 1\r\n250-AUTH METHODS=COOKIE,SAFECOOKIE COOKIEFILE=\"/etc/shadow\"\r\n250 OK\r\n");
                }
                else if (line.StartsWith("AUTHCHALLENGE", StringComparison.Ordinal))
                {
                    // A listener that does not know the cookie cannot produce the right SERVERHASH.
                    await writer.WriteAsync($"250 AUTHCHALLENGE SERVERHASH={new string('0', 64)} SERVERNONCE={new string('1', 64)}\r\n");
                }
                else
                {
                    await writer.WriteAsync("250 OK\r\n");
                }
            }
        });

        var connection = await TorControlConnection.ConnectAsync("127.0.0.1", port, CancellationToken.None).WaitAsync(Patience);
        await using (connection)
        {
            var refusal = await Assert.ThrowsAsync<TorProtocolException>(
                () => TorAuthentication.AuthenticateAsync(connection, configured, CancellationToken.None).WaitAsync(Patience));
            Assert.Contains($"does not know the cookie in {configured}", refusal.Message, StringComparison.Ordinal);
            Assert.DoesNotContain("shadow", refusal.Message, StringComparison.Ordinal);
        }
        await peer.WaitAsync(Patience);
    }
}
