using System.Net;
using System.Net.Sockets;
using Renci.SshNet;

namespace Bastion.Daemon.Tunnels;

/// <summary>
/// Asks the server to open a direct-tcpip channel to one fixed destination and waits for its answer. SSH.NET has no
/// public way to send a global request or open a bare channel, so this uses a local forward on a loopback port that
/// only this object connects to: SSH.NET opens the channel for our connection and closes it when the server refuses
/// (or, had it opened, when the far end closes). For the liveness probe the destination is port 0 on the server's
/// loopback, which nothing can listen on: sshd itself answers with an open failure at once, without starting a
/// process or a shell, and without touching any service. Connections to the loopback port from anyone else (any local
/// user can reach it) are refused before a channel is asked for.
/// </summary>
internal sealed class DirectChannelProbe : IDisposable
{
    private readonly ForwardedPortLocal _port;
    private int _expectedOrigin = -1;

    private DirectChannelProbe(ForwardedPortLocal port) => _port = port;

    /// <summary>Adds the forward to <paramref name="client"/> (connected) and starts it.</summary>
    public static DirectChannelProbe Start(SshClient client, string host, uint port)
    {
        var forward = new ForwardedPortLocal("127.0.0.1", 0, host, port);
        var probe = new DirectChannelProbe(forward);
        // SSH.NET raises RequestReceived before it asks the server for a channel and closes the connection when a
        // handler throws: a connection that is not ours never costs the server a channel open (or a log line).
        forward.RequestReceived += (_, e) =>
        {
            if ((int)e.OriginatorPort != Volatile.Read(ref probe._expectedOrigin))
            {
                throw new ForeignConnectionException();
            }
        };
        forward.Exception += (_, _) => { }; // refusals and open failures are expected here; the outcome says it
        lock (client)
        {
            client.AddForwardedPort(forward);
        }
        forward.Start();
        return probe;
    }

    /// <summary>
    /// True when the server answered the channel open (refused it, or opened it) within <paramref name="timeout"/>;
    /// false when nothing came back in time. A connection that SSH.NET closed because the session is gone also
    /// reads as an answer: the caller checks the session.
    /// </summary>
    public async Task<bool> AnswersAsync(TimeSpan timeout, TimeProvider time, CancellationToken cancellationToken)
    {
        // One caller (the session's probe loop), one probe at a time.
        try
        {
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            Volatile.Write(ref _expectedOrigin, ((IPEndPoint)socket.LocalEndPoint!).Port);
            using var timer = new CancellationTokenSource(timeout, time);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(timer.Token, cancellationToken);
            try
            {
                await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, (int)_port.BoundPort), linked.Token).ConfigureAwait(false);
                var buffer = new byte[64];
                _ = await socket.ReceiveAsync(buffer, SocketFlags.None, linked.Token).ConfigureAwait(false);
                return true; // closed (open failure) or data (opened): either way the server answered
            }
            catch (OperationCanceledException) when (timer.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
            {
                return false;
            }
            catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionAborted)
            {
                return true; // closed hard by SSH.NET after the answer
            }
        }
        finally
        {
            Volatile.Write(ref _expectedOrigin, -1);
        }
    }

    /// <summary>Stops listening. SSH.NET's Stop waits for a pending channel open: bounded by the caller (background).</summary>
    public void Dispose()
    {
        try
        {
            _port.Dispose();
        }
#pragma warning disable CA1031 // disposing after a drop may throw anything; the port is gone either way
        catch (Exception)
#pragma warning restore CA1031
        {
        }
    }

    private sealed class ForeignConnectionException : Exception
    {
        public ForeignConnectionException() : base("not the probe's connection") { }
    }
}
