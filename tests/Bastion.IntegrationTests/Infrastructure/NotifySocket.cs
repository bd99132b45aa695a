using System.Net.Sockets;
using System.Text;
using System.Threading.Channels;

namespace Bastion.IntegrationTests.Infrastructure;

/// <summary>
/// A unix datagram socket standing in for systemd's NOTIFY_SOCKET: records every notification the daemon
/// sends, in order, with the time it arrived.
/// </summary>
internal sealed class NotifySocket : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly CancellationTokenSource _stop = new();
    private readonly Channel<Notification> _received = Channel.CreateUnbounded<Notification>();
    private readonly List<Notification> _all = [];
    private readonly Task _pump;

    public NotifySocket(string path)
    {
        Path = path;
        _socket = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        _socket.Bind(new UnixDomainSocketEndPoint(path));
        _pump = Task.Run(PumpAsync);
    }

    public string Path { get; }

    public IReadOnlyList<Notification> All
    {
        get { lock (_all) { return [.. _all]; } }
    }

    private async Task PumpAsync()
    {
        var buffer = new byte[65536];
        while (!_stop.IsCancellationRequested)
        {
            int n;
            try
            {
                n = await _socket.ReceiveAsync(buffer, SocketFlags.None, _stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }
            var text = Encoding.UTF8.GetString(buffer, 0, n);
            var notification = new Notification(text, DateTime.UtcNow);
            lock (_all)
            {
                _all.Add(notification);
            }
            _received.Writer.TryWrite(notification);
        }
    }

    /// <summary>Waits for the next notification (in arrival order) that satisfies <paramref name="match"/>, skipping others.</summary>
    public async Task<Notification> WaitForAsync(Func<Notification, bool> match, TimeSpan timeout, string what)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            while (true)
            {
                var next = await _received.Reader.ReadAsync(cts.Token);
                if (match(next))
                {
                    return next;
                }
            }
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"no notification '{what}' within {timeout.TotalSeconds}s; received so far:\n"
                + string.Join("\n", All.Select(a => "  " + a.Text.Replace("\n", "\\n", StringComparison.Ordinal))));
        }
    }

    public Task<Notification> WaitForAsync(string assignment, TimeSpan timeout) =>
        WaitForAsync(n => n.Has(assignment), timeout, assignment);

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _socket.Dispose();
        await _pump;
        _stop.Dispose();
    }
}

internal sealed record Notification(string Text, DateTime ReceivedAt)
{
    public IReadOnlyList<string> Lines => Text.Split('\n', StringSplitOptions.RemoveEmptyEntries);

    public bool Has(string assignment) => Lines.Contains(assignment);

    public string? Get(string key) =>
        Lines.FirstOrDefault(l => l.StartsWith(key + "=", StringComparison.Ordinal))?[(key.Length + 1)..];
}
