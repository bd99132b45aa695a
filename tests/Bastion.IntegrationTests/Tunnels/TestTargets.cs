using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Bastion.IntegrationTests.Tunnels;

/// <summary>
/// A target that accepts and holds every connection, never closing one on its own (also not at EOF): the worst case
/// for leaks, like an sshd waiting for a client's banner until its LoginGraceTime.
/// </summary>
internal sealed class HoldingServer : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Socket> _held = [];
    private readonly Task _loop;
    private int _accepted;

    public HoldingServer()
    {
        _listener.Start();
        _loop = Task.Run(async () =>
        {
            while (!_stop.IsCancellationRequested)
            {
                try
                {
                    var s = await _listener.AcceptSocketAsync(_stop.Token);
                    Interlocked.Increment(ref _accepted);
                    lock (_held)
                    {
                        _held.Add(s);
                    }
                }
                catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
                {
                    return;
                }
            }
        });
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;
    public int Accepted => Volatile.Read(ref _accepted);

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        await _loop.WaitAsync(TimeSpan.FromSeconds(5));
        lock (_held)
        {
            _held.ForEach(s => s.Dispose());
        }
        _stop.Dispose();
    }
}

/// <summary>
/// A target that answers after EOF, like <c>socat … EXEC:'wc -c'</c>: it sends an optional banner and then reads to
/// EOF and writes back how many bytes it read. With <c>eofFirst</c> it half-closes its own side right after the
/// banner and only records the count (the client's direction must keep flowing after the target's EOF).
/// </summary>
internal sealed class CountAfterEofServer : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private readonly TaskCompletionSource<int> _counted = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public CountAfterEofServer(bool eofFirst)
    {
        _listener.Start();
        _loop = Task.Run(async () =>
        {
            while (!_stop.IsCancellationRequested)
            {
                Socket s;
                try
                {
                    s = await _listener.AcceptSocketAsync(_stop.Token);
                }
                catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
                {
                    return;
                }
                _ = Task.Run(async () =>
                {
                    using (s)
                    {
                        try
                        {
                            await s.SendAsync("BANNER\n"u8.ToArray(), SocketFlags.None);
                            if (eofFirst)
                            {
                                s.Shutdown(SocketShutdown.Send);
                            }
                            var total = 0;
                            var buffer = new byte[4096];
                            int n;
                            while ((n = await s.ReceiveAsync(buffer, SocketFlags.None, _stop.Token)) > 0)
                            {
                                total += n;
                            }
                            if (total == 0)
                            {
                                return; // a connection that sent nothing (a -R tunnel's end-to-end check): not what is counted
                            }
                            _counted.TrySetResult(total);
                            if (!eofFirst)
                            {
                                await s.SendAsync(System.Text.Encoding.ASCII.GetBytes(total.ToString(CultureInfo.InvariantCulture) + "\n"), SocketFlags.None);
                                s.Shutdown(SocketShutdown.Send);
                            }
                        }
                        catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
                        {
                        }
                    }
                });
            }
        });
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary>How many bytes the first connection read before its EOF.</summary>
    public Task<int> Counted => _counted.Task;

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        await _loop.WaitAsync(TimeSpan.FromSeconds(5));
        _stop.Dispose();
    }
}

/// <summary>What a process holds, read from /proc.</summary>
internal static class ProcessSockets
{
    /// <summary>TCP connections to <paramref name="port"/> (remote side) whose socket the process holds open.</summary>
    public static int ConnectionsTo(int pid, int port)
    {
        var inodes = new HashSet<string>(StringComparer.Ordinal);
        foreach (var fd in Directory.EnumerateFileSystemEntries($"/proc/{pid}/fd"))
        {
            try
            {
                if (new FileInfo(fd).LinkTarget is { } target && target.StartsWith("socket:[", StringComparison.Ordinal))
                {
                    inodes.Add(target[8..^1]);
                }
            }
            catch (IOException)
            {
            }
        }
        var suffix = ":" + port.ToString("X4", CultureInfo.InvariantCulture);
        var count = 0;
        foreach (var table in new[] { "/proc/net/tcp", "/proc/net/tcp6" })
        {
            foreach (var line in File.ReadLines(table).Skip(1))
            {
                var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (f.Length > 9 && f[2].EndsWith(suffix, StringComparison.Ordinal) && inodes.Contains(f[9]))
                {
                    count++;
                }
            }
        }
        return count;
    }

    public static int Threads(int pid) =>
        int.Parse(File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith("Threads:", StringComparison.Ordinal))[8..].Trim(), CultureInfo.InvariantCulture);
}
