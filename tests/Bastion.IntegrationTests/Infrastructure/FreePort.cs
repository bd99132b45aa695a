using System.Net;
using System.Net.Sockets;

namespace Bastion.IntegrationTests.Infrastructure;

internal static class FreePort
{
    /// <summary>
    /// A loopback port that was free a moment ago, for peers that cannot bind port 0 and report it (sshd).
    /// Callers retry on "address already in use".
    /// </summary>
    public static int Pick()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
