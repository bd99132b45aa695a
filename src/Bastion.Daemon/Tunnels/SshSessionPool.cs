using Bastion.Config;
using Bastion.Ssh;
using Microsoft.Extensions.Logging;

namespace Bastion.Daemon.Tunnels;

/// <summary>
/// The SSH sessions tunnels ride on, shared by key (<see cref="SshSessionKey"/>) and counted by lease: the first
/// tunnel that needs a server connects, the others join that attempt, the last one to leave closes it. A session
/// that died is replaced by a fresh one (new SshClient) at the next acquire; its old leases drain on their own.
/// </summary>
internal sealed class SshSessionPool
{
    private readonly Lock _lock = new();
    private readonly Dictionary<SshSessionKey, SharedSshSession> _sessions = [];
    private long _nextId;

    /// <summary>
    /// SSH.NET blocks a thread-pool thread per forwarded connection and per channel open (synchronous waits). With the
    /// default minimum (one thread per core) every new connection then waits for the pool's slow thread injection
    /// (about 2 per second): a probe or a user's connection would stall for seconds. Threads above the minimum are
    /// only created when needed and retire when idle. The host sets it (<see cref="Hosting.DaemonHost"/>).
    /// </summary>
    public const int MinimumThreads = 64;

    public SshSessionPool(ILoggerFactory loggerFactory, TimeProvider time)
    {
        LoggerFactory = loggerFactory;
        Time = time;
    }

    public ILoggerFactory LoggerFactory { get; }

    public TimeProvider Time { get; }

    public int Count
    {
        get { lock (_lock) { return _sessions.Count; } }
    }

    /// <summary>Waits for a connected session; throws <see cref="SshFailureException"/> when it cannot connect.</summary>
    public async Task<SshSessionLease> AcquireAsync(SshSessionKey key, ProbeConfig probe, CancellationToken cancellationToken)
    {
        SharedSshSession session;
        var lease = new SshSessionLease(this, probe);
        lock (_lock)
        {
            if (!_sessions.TryGetValue(key, out session!) || session.IsDead)
            {
                session = new SharedSshSession(key, ++_nextId, LoggerFactory.CreateLogger("Bastion.Tunnels"), Time);
                _sessions[key] = session;
                session.Add(lease);
                session.Start();
            }
            else
            {
                session.Add(lease);
            }
        }
        lease.Session = session;
        try
        {
            await session.Connected.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            lease.Dispose();
            throw;
        }
        return lease;
    }

    internal void Release(SshSessionLease lease)
    {
        var session = lease.Session;
        bool last;
        lock (_lock)
        {
            last = session.Remove(lease);
            if (last && _sessions.TryGetValue(session.Key, out var current) && current == session)
            {
                _sessions.Remove(session.Key);
            }
        }
        if (last)
        {
            session.Close();
        }
    }
}

/// <summary>One tunnel's hold on a shared session; disposing it lets the session close when nobody else holds it.</summary>
internal sealed class SshSessionLease(SshSessionPool pool, ProbeConfig probe) : IDisposable
{
    private int _disposed;

    public SharedSshSession Session { get; internal set; } = null!;
    public ProbeConfig Probe { get; } = probe;

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            pool.Release(this);
        }
    }
}
