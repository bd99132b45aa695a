using System.Net;
using System.Net.Sockets;
using Bastion.Config;
using Bastion.Metrics;
using Microsoft.Extensions.Logging;

namespace Bastion.Daemon.Metrics;

/// <summary>
/// Serves GET /metrics on a TCP or Unix socket, and nothing else. Written on a bare socket rather than HttpListener or
/// Kestrel (see README, Metrics: why by hand): it must listen on a Unix socket, and everything a stranger can make it
/// spend is bounded here — at most <see cref="MaxConnections"/> connections at once, a request head of at most
/// <see cref="MetricsHttp.MaxRequestHeadBytes"/>, and <see cref="RequestDeadline"/> for reading the request and writing
/// the answer; one request per connection. Nothing is logged per connection.
/// When all places are taken, a newcomer is not turned away: the oldest connection that has not finished sending its
/// request gives way (else the oldest of all). A local user who holds idle connections therefore cannot keep the
/// scraper out — a scrape on loopback is answered within milliseconds of its request.
/// </summary>
internal sealed class MetricsEndpoint : IDisposable
{
    /// <summary>Prometheus keeps one connection per target; a few more allow curl and a second Prometheus.</summary>
    public const int MaxConnections = 8;

    /// <summary>Prometheus' default scrape timeout is 10s; a scrape of bastiond takes milliseconds.</summary>
    public static readonly TimeSpan RequestDeadline = TimeSpan.FromSeconds(5);

    private readonly Socket _listener;
    private readonly MetricsSource _source;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stop = new();
    private readonly string? _unixPath;
    private readonly Task _acceptLoop;
    private readonly Lock _connectionsLock = new();
    private readonly LinkedList<Connection> _connections = []; // oldest first

    /// <summary>One served connection: cancelling it ends it; <see cref="Answering"/> once its request is read.</summary>
    private sealed class Connection(CancellationToken stopping)
    {
        public CancellationTokenSource Cancel { get; } = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        public volatile bool Answering;
    }

    private MetricsEndpoint(Socket listener, string address, string? unixPath, MetricsSource source, TimeProvider time, ILogger logger)
    {
        _listener = listener;
        Address = address;
        _unixPath = unixPath;
        _source = source;
        _time = time;
        _logger = logger;
        _acceptLoop = Task.Run(AcceptLoopAsync);
    }

    /// <summary>What it listens on: <c>127.0.0.1:9469</c> (the bound port, also when port 0 was configured) or <c>unix:/path</c>.</summary>
    public string Address { get; }

    /// <summary>Binds and starts serving; logs and returns null when the address cannot be bound (the daemon runs on without metrics).</summary>
    public static MetricsEndpoint? Start(BackendAddress listen, MetricsSource source, TimeProvider time, ILogger logger)
    {
        Socket? socket = null;
        try
        {
            string address;
            if (listen.UnixPath is { } path)
            {
                RemoveStaleSocket(path);
                socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                socket.Bind(new UnixDomainSocketEndPoint(path));
                // Readable by any local user, like status.json: the same facts, no secret.
                File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite
                    | UnixFileMode.OtherRead | UnixFileMode.OtherWrite);
                address = "unix:" + path;
            }
            else
            {
                var tcp = listen.Tcp!;
                var ip = IPAddress.TryParse(tcp.Host, out var parsed) ? parsed : Dns.GetHostAddresses(tcp.Host)[0];
                socket = new Socket(ip.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
                socket.Bind(new IPEndPoint(ip, tcp.Port));
                address = new Endpoint(tcp.Host, ((IPEndPoint)socket.LocalEndPoint!).Port).ToString();
            }
            socket.Listen(MaxConnections * 2);
            MetricsLog.Listening(logger, address);
            return new MetricsEndpoint(socket, address, listen.UnixPath, source, time, logger);
        }
        catch (Exception e) when (e is SocketException or IOException or UnauthorizedAccessException or IndexOutOfRangeException)
        {
            socket?.Dispose();
            MetricsLog.BindFailed(logger, listen.ToString(), e.Message);
            return null;
        }
    }

    /// <summary>
    /// A socket left by a killed bastiond is replaced. Refused: a path in use by a live listener, a directory, a symbolic
    /// link, or a file with content (a socket has none) — those are someone else's, and nothing is deleted.
    /// </summary>
    private static void RemoveStaleSocket(string path)
    {
        var info = new FileInfo(path);
        if (Directory.Exists(path) || info.LinkTarget is not null)
        {
            throw new IOException($"{path} exists and is not a socket");
        }
        if (!info.Exists)
        {
            return;
        }
        if (info.Length != 0)
        {
            throw new IOException($"{path} exists and is not a socket");
        }
        using var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            probe.Connect(new UnixDomainSocketEndPoint(path));
        }
        catch (SocketException)
        {
            File.Delete(path); // nobody listens: stale
            return;
        }
        throw new IOException($"{path} is in use by another process");
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (ObjectDisposedException)
            {
                return;
            }
            catch (SocketException)
            {
                // A connection reset before accept: nothing to serve. Back off a little so an error storm cannot spin.
                await Task.Delay(TimeSpan.FromMilliseconds(10), _time).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                continue;
            }
            _ = ServeAsync(client, Admit());
        }
    }

    /// <summary>Takes a place for a new connection, making the oldest give way when all are taken.</summary>
    private LinkedListNode<Connection> Admit()
    {
        LinkedListNode<Connection> node;
        // Cancel and Dispose of a connection's source both happen under the lock, so neither meets a disposed source.
        lock (_connectionsLock)
        {
            if (_connections.Count >= MaxConnections)
            {
                var victim = _connections.First!;
                for (var n = _connections.First; n is not null; n = n.Next)
                {
                    if (!n.Value.Answering)
                    {
                        victim = n;
                        break;
                    }
                }
                _connections.Remove(victim);
                victim.Value.Cancel.Cancel();
            }
            node = _connections.AddLast(new Connection(_stop.Token));
        }
        return node;
    }

    private async Task ServeAsync(Socket client, LinkedListNode<Connection> place)
    {
        var connection = place.Value;
        try
        {
            using var deadline = new CancellationTokenSource(RequestDeadline, _time);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(deadline.Token, connection.Cancel.Token);
            var response = await AnswerAsync(client, linked.Token).ConfigureAwait(false);
            if (response is not null)
            {
                connection.Answering = true;
                await client.SendAsync(response, SocketFlags.None, linked.Token).ConfigureAwait(false);
                client.Shutdown(SocketShutdown.Send);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
            // Deadline, made to give way, daemon stopping, or the peer went away: the connection just ends.
        }
        finally
        {
            client.Dispose();
            lock (_connectionsLock)
            {
                if (place.List is not null)
                {
                    _connections.Remove(place);
                }
                connection.Cancel.Dispose();
            }
        }
    }

    /// <summary>Reads the request head (bounded) and builds the answer; null when the peer closed before sending one.</summary>
    private async Task<byte[]?> AnswerAsync(Socket client, CancellationToken cancellationToken)
    {
        var buffer = new byte[MetricsHttp.MaxRequestHeadBytes];
        var received = 0;
        while (true)
        {
            if (received == buffer.Length)
            {
                return MetricsHttp.Refusal(MetricsRoute.HeadTooLarge);
            }
            var n = await client.ReceiveAsync(buffer.AsMemory(received), SocketFlags.None, cancellationToken).ConfigureAwait(false);
            if (n == 0)
            {
                return null;
            }
            received += n;
            var length = MetricsHttp.HeadLength(buffer.AsSpan(0, received));
            if (length >= 0)
            {
                var request = MetricsHttp.Parse(buffer.AsSpan(0, length));
                return request.Route == MetricsRoute.Metrics ? Render(request.Format) : MetricsHttp.Refusal(request.Route);
            }
        }
    }

    private byte[] Render(ExpositionFormat format)
    {
        try
        {
            var body = Exposition.Write(BastionSeries.Build(_source.Read()), format);
            return MetricsHttp.Response(200, Exposition.ContentType(format), body);
        }
#pragma warning disable CA1031 // A scrape that fails is a 503 and a log line, never a crash of the daemon.
        catch (Exception e)
#pragma warning restore CA1031
        {
            MetricsLog.ScrapeFailed(_logger, e.GetType().Name + ": " + e.Message);
            return MetricsHttp.Response(503, "text/plain; charset=utf-8", "metrics unavailable\n");
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Dispose();
        _acceptLoop.Wait(TimeSpan.FromSeconds(2));
        if (_unixPath is not null)
        {
            try
            {
                File.Delete(_unixPath);
            }
            catch (IOException)
            {
                // Replaced at the next start.
            }
        }
        MetricsLog.Stopped(_logger, Address);
        _stop.Dispose();
    }
}
