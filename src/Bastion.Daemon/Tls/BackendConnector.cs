using System.Net.Sockets;
using Bastion.Config;

namespace Bastion.Daemon.Tls;

/// <summary>Opens a connection to a relay backend: a Unix socket (the VNC desktop's) or TCP.</summary>
internal static class BackendConnector
{

    public static async Task<Socket> ConnectAsync(BackendAddress backend, CancellationToken cancellationToken)
    {
        Socket socket;
        if (backend.UnixPath is { } path)
        {
            socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            try
            {
                await socket.ConnectAsync(new UnixDomainSocketEndPoint(path), cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
            return socket;
        }
        socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(backend.Tcp!.Host, backend.Tcp.Port, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        return socket;
    }

    /// <summary>Why connecting to <paramref name="backend"/> failed, in a few words (by error code, never by message text).</summary>
    public static string Describe(Exception e, BackendAddress backend) => e switch
    {
        SocketException { SocketErrorCode: SocketError.ConnectionRefused } => "connection refused",
        // A Unix socket's missing file (ENOENT) reaches .NET as AddressNotAvailable ("Cannot assign requested address"),
        // which means nothing else for a Unix socket.
        SocketException { SocketErrorCode: SocketError.AddressNotAvailable } when backend.UnixPath is not null => "socket file does not exist",
        SocketException { SocketErrorCode: SocketError.AddressNotAvailable or SocketError.AddressFamilyNotSupported } s => s.Message,
        SocketException s => $"{s.SocketErrorCode}: {s.Message}",
        OperationCanceledException => "timed out",
        _ => e.Message,
    };
}
