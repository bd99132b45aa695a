using System.Buffers;
using System.Net;
using System.Net.Sockets;
using Renci.SshNet.Common;

namespace Bastion.Daemon.Tunnels;

/// <summary>The relay's path through an SSH channel (-L, -D): the accepted socket on one side, a direct-tcpip channel on the other.</summary>
internal sealed partial class CountingRelay
{
    private async Task RelayThroughChannelAsync(Socket client, Upstream chosen, DirectTcpipChannels channels)
    {
        var channel = channels.Create();
        try
        {
            try
            {
                using var timer = new CancellationTokenSource(ConnectTimeout, _time);
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token, timer.Token);
                // The originator is the user's end (what sshd logs and what OpenSSH's ssh -L sends).
                var origin = client.RemoteEndPoint as IPEndPoint;
                await channel.OpenAsync(chosen.Host, chosen.Port, origin?.Address.ToString() ?? "127.0.0.1", origin?.Port ?? 0, timeout.Token)
                    .ConfigureAwait(false);
                Interlocked.Increment(ref _upstreamConnects);
            }
            catch (Exception e) when (e is ChannelOpenRefusedException or SshConnectionException or OperationCanceledException)
            {
                Interlocked.Increment(ref _upstreamFailures);
                _onError($"cannot open a channel to {chosen.Host}:{chosen.Port}: {(e is OperationCanceledException ? "timed out" : e.Message)}");
                if (chosen.FailureReply is { } refused)
                {
                    await client.SendAsync(refused, SocketFlags.None, _stop.Token).ConfigureAwait(false);
                }
                return;
            }
            if (chosen.Reply is { } reply)
            {
                await client.SendAsync(reply, SocketFlags.None, _stop.Token).ConfigureAwait(false);
            }
            using var both = new ChannelConnection(client, channel);
            await Task.WhenAll(PumpToChannelAsync(both, client, channel), PumpFromChannelAsync(both, channel, client)).ConfigureAwait(false);
        }
        finally
        {
            channel.Close();
        }
    }

    /// <summary>The accepted socket and its channel: closing it closes both (a pending read on either ends).</summary>
    private sealed class ChannelConnection(Socket client, DirectTcpipChannel channel) : IDisposable
    {
        private int _closed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _closed, 1) == 0)
            {
                client.Dispose();
                channel.Close();
            }
        }
    }

    /// <summary>Client to server. Idle: a zero-byte receive, no buffer. EOF from the client becomes the channel's EOF.</summary>
    private async Task PumpToChannelAsync(ChannelConnection both, Socket from, DirectTcpipChannel to)
    {
        try
        {
            while (true)
            {
                if (from.Available == 0)
                {
                    await from.ReceiveAsync(Memory<byte>.Empty, SocketFlags.None).ConfigureAwait(false);
                }
                var buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
                try
                {
                    var n = await from.ReceiveAsync(buffer.AsMemory(0, BufferSize), SocketFlags.None).ConfigureAwait(false);
                    if (n == 0)
                    {
                        to.SendEof();
                        return;
                    }
                    if (!await to.SendAsync(buffer, 0, n).ConfigureAwait(false))
                    {
                        both.Dispose(); // the channel is gone: nothing more can reach the target
                        return;
                    }
                    Interlocked.Add(ref _bytesOut, n);
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                }
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            both.Dispose();
        }
    }

    /// <summary>
    /// Server to client. The channel's EOF half-closes the client's side (it reads EOF, may still send); the channel's
    /// end shuts the client's socket both ways after the last data (a FIN, not a reset that could drop that data).
    /// </summary>
    private async Task PumpFromChannelAsync(ChannelConnection both, DirectTcpipChannel from, Socket to)
    {
        try
        {
            while (true)
            {
                var read = await from.ReceiveAsync().ConfigureAwait(false);
                switch (read.Kind)
                {
                    case ChannelReadKind.Data:
                        try
                        {
                            var sent = 0;
                            while (sent < read.Length)
                            {
                                sent += await to.SendAsync(read.Buffer.AsMemory(sent, read.Length - sent), SocketFlags.None).ConfigureAwait(false);
                            }
                            Interlocked.Add(ref _bytesIn, read.Length);
                        }
                        finally
                        {
                            from.Consumed(read.Buffer!, read.Length);
                        }
                        break;
                    case ChannelReadKind.Eof:
                        to.Shutdown(SocketShutdown.Send);
                        break;
                    default:
                        to.Shutdown(SocketShutdown.Both); // the client pump's receive ends with 0
                        return;
                }
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            both.Dispose();
        }
    }
}
