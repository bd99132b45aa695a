using System.Net.Sockets;
using System.Text;
using Bastion.Tor;

namespace Bastion.Daemon.Tor;

/// <summary>
/// One control-port connection: commands answered in order, asynchronous events (650) handed to <see cref="EventReceived"/>
/// on the reader task. Anything that is not the control protocol closes the connection with a reason
/// (<see cref="Closed"/>), never crashes the daemon.
/// </summary>
internal sealed class TorControlConnection : IAsyncDisposable
{
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(10);
    private readonly Socket _socket;
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly Queue<TaskCompletionSource<TorReply>> _pending = new();
    private readonly object _lock = new();
    private readonly TaskCompletionSource<string> _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _stop = new();
    private Task? _readLoop;

    private TorControlConnection(Socket socket, string endpoint)
    {
        _socket = socket;
        Endpoint = endpoint;
    }

    public string Endpoint { get; }

    /// <summary>Completes with the reason when the connection ends (tor exited, protocol error, disposed).</summary>
    public Task<string> Closed => _closed.Task;

    /// <summary>Events, on the reader task: handlers must be quick and must not throw.</summary>
    public event Action<TorReply>? EventReceived;

    public static async Task<TorControlConnection> ConnectAsync(string host, int port, CancellationToken cancellationToken)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        // Bounded: a control host that drops packets would otherwise hold the attempt for the kernel's SYN retries (~2 min).
        using var connectTimeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        connectTimeout.CancelAfter(ConnectTimeout);
        try
        {
            await socket.ConnectAsync(host, port, connectTimeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            socket.Dispose();
            throw new SocketException((int)SocketError.TimedOut);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        var connection = new TorControlConnection(socket, $"{host}:{port}");
        connection._readLoop = Task.Run(connection.ReadLoopAsync, CancellationToken.None);
        return connection;
    }

    /// <summary>Sends one command line and returns tor's reply (any status: callers decide what an error means).</summary>
    public async Task<TorReply> SendAsync(string commandLine, CancellationToken cancellationToken)
    {
        var tcs = new TaskCompletionSource<TorReply>(TaskCreationOptions.RunContinuationsAsynchronously);
        var bytes = Encoding.ASCII.GetBytes(commandLine);
        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            lock (_lock)
            {
                if (_closed.Task.IsCompleted)
                {
                    throw new TorProtocolException("the tor control connection is closed: " + _closed.Task.Result);
                }
                _pending.Enqueue(tcs);
            }
            await _socket.SendAsync(bytes, SocketFlags.None, cancellationToken).ConfigureAwait(false);
        }
        catch (SocketException e)
        {
            Close($"sending to the tor control port failed: {e.SocketErrorCode}");
            throw new TorProtocolException("the tor control connection is closed: " + e.SocketErrorCode);
        }
        finally
        {
            _writeLock.Release();
        }
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(CommandTimeout);
        try
        {
            return await tcs.Task.WaitAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            // Replies are matched by order: after a lost answer the connection is useless.
            Close($"tor did not answer '{FirstWord(commandLine)}' within {CommandTimeout.TotalSeconds:0}s");
            throw new TorProtocolException($"tor did not answer '{FirstWord(commandLine)}' within {CommandTimeout.TotalSeconds:0}s");
        }
    }

    /// <summary>Like <see cref="SendAsync"/>, but a non-2xx answer is a <see cref="TorCommandException"/>.</summary>
    public async Task<TorReply> SendOkAsync(string commandLine, CancellationToken cancellationToken)
    {
        var reply = await SendAsync(commandLine, cancellationToken).ConfigureAwait(false);
        return reply.IsOk ? reply : throw new TorCommandException(FirstWord(commandLine), reply);
    }

    private static string FirstWord(string line)
    {
        var space = line.IndexOf(' ', StringComparison.Ordinal);
        return (space < 0 ? line : line[..space]).Trim();
    }

    private async Task ReadLoopAsync()
    {
        var reader = new TorReplyReader();
        var buffer = new byte[16 * 1024];
        var reason = "tor closed the control connection";
        try
        {
            while (true)
            {
                var n = await _socket.ReceiveAsync(buffer, SocketFlags.None, _stop.Token).ConfigureAwait(false);
                if (n == 0)
                {
                    break;
                }
                foreach (var reply in reader.Feed(buffer.AsSpan(0, n)))
                {
                    Dispatch(reply);
                }
            }
        }
        catch (TorProtocolException e)
        {
            reason = "tor control protocol error: " + e.Message;
        }
        catch (SocketException e)
        {
            reason = $"tor control connection failed: {e.SocketErrorCode}";
        }
        catch (OperationCanceledException)
        {
            reason = "control connection closed by bastiond";
        }
        catch (ObjectDisposedException)
        {
            reason = "control connection closed by bastiond";
        }
#pragma warning disable CA1031 // Anything else must still close the connection: its owners wait on Closed, pending commands on their replies.
        catch (Exception e)
#pragma warning restore CA1031
        {
            reason = $"tor control connection failed: {e.GetType().Name}: {e.Message}";
        }
        Close(reason);
    }

    private void Dispatch(TorReply reply)
    {
        if (reply.IsEvent)
        {
            try
            {
                EventReceived?.Invoke(reply);
            }
#pragma warning disable CA1031 // A subscriber's bug must not kill the reader (and with it every other subscriber).
            catch (Exception)
#pragma warning restore CA1031
            {
            }
            return;
        }
        TaskCompletionSource<TorReply>? tcs;
        lock (_lock)
        {
            _pending.TryDequeue(out tcs);
        }
        if (tcs is null)
        {
            throw new TorProtocolException($"tor sent a reply nobody asked for: {reply.Describe()}");
        }
        tcs.TrySetResult(reply);
    }

    private void Close(string reason)
    {
        List<TaskCompletionSource<TorReply>> orphans;
        lock (_lock)
        {
            if (!_closed.TrySetResult(reason))
            {
                return;
            }
            orphans = [.. _pending];
            _pending.Clear();
        }
        foreach (var tcs in orphans)
        {
            tcs.TrySetException(new TorProtocolException("the tor control connection closed: " + reason));
        }
        try
        {
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (SocketException)
        {
        }
        catch (ObjectDisposedException)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        Close("control connection closed by bastiond");
        await _stop.CancelAsync().ConfigureAwait(false);
        if (_readLoop is not null)
        {
            await _readLoop.ConfigureAwait(false);
        }
        _socket.Dispose();
        _stop.Dispose();
        _writeLock.Dispose();
    }
}

/// <summary>Tor refused a command (e.g. <c>552 Unrecognized key</c>); the message carries tor's own words, made printable.</summary>
internal sealed class TorCommandException(string command, TorReply reply)
    : Exception($"tor refused {command}: {reply.Describe()}")
{
    public TorReply Reply { get; } = reply;
}
