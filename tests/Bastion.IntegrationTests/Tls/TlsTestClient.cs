using System.Net.Security;
using Bastion.IntegrationTests.Infrastructure;
using Bastion.Pki;

namespace Bastion.IntegrationTests.Tls;

/// <summary>A plain .NET TLS client for an endpoint: the test's own peer, with or without a client certificate.</summary>
internal sealed class TlsTestClient : IAsyncDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);
    private readonly TlsClientConnection _connection;

    private TlsTestClient(TlsClientConnection connection) => _connection = connection;

    public SslStream Stream => _connection.Stream;

    /// <summary>Connects and completes the handshake; the server's certificate must chain to <paramref name="caPath"/>.</summary>
    public static async Task<TlsTestClient> ConnectAsync(int port, string caPath, IssueResult? identity, CancellationToken cancellationToken = default) =>
        new(await TlsClientConnection.ConnectAsync(port, caPath, identity, Patience, cancellationToken));

    /// <summary>Sends a line and reads the echo (empty when the server closed instead).</summary>
    public async Task<string> RoundTripAsync(string text)
    {
        var data = System.Text.Encoding.ASCII.GetBytes(text);
        await Stream.WriteAsync(data).AsTask().WaitAsync(Patience);
        var buffer = new byte[data.Length];
        var read = 0;
        while (read < buffer.Length)
        {
            var n = await Stream.ReadAsync(buffer.AsMemory(read)).AsTask().WaitAsync(Patience);
            if (n == 0)
            {
                break;
            }
            read += n;
        }
        return System.Text.Encoding.ASCII.GetString(buffer, 0, read);
    }

    public ValueTask DisposeAsync() => _connection.DisposeAsync();
}
