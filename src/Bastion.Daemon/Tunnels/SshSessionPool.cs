using Bastion.Config;
using Bastion.Ssh;
using Microsoft.Extensions.Logging;

namespace Bastion.Daemon.Tunnels;

/// <summary>
/// The SSH sessions tunnels ride on, shared by key (<see cref="SshSessionKey"/>) and counted by lease: the first
/// tunnel that needs a server opens its <see cref="SshSessionSlot"/>, the others join it, the last one to leave closes
/// it. The slot, not each tunnel, reconnects a session that ended (one schedule per server), so every tunnel on it
/// sees the new session at the same moment and all of their forwards start together.
/// </summary>
internal sealed class SshSessionPool
{
    private readonly Lock _lock = new();
    private readonly Dictionary<SshSessionKey, SshSessionSlot> _slots = [];
    private long _nextId;

    /// <summary>
    /// SSH.NET's connect and its sends are synchronous: a connect blocks a thread-pool thread for its handshake, and a
    /// channel's send blocks one while the session's socket is full (a busy upload). With the default minimum (one
    /// thread per core) other work then waits for the pool's slow thread injection (about 2 per second): a probe or a
    /// user's connection would stall for seconds. Threads above the minimum are only created when needed and retire
    /// when idle; idle connections hold none. The host sets it (<see cref="Hosting.DaemonHost"/>).
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
        get { lock (_lock) { return _slots.Count; } }
    }

    /// <summary>Joins the slot of <paramref name="key"/> (opening it, and so connecting, if nobody had).</summary>
    public SshSessionLease Lease(SshSessionKey key, ProbeConfig probe)
    {
        lock (_lock)
        {
            if (!_slots.TryGetValue(key, out var slot))
            {
                slot = new SshSessionSlot(key, () => Interlocked.Increment(ref _nextId), LoggerFactory.CreateLogger("Bastion.Tunnels"), Time);
                _slots[key] = slot;
            }
            var lease = new SshSessionLease(this, slot, probe);
            slot.Add(lease);
            return lease;
        }
    }

    internal void Release(SshSessionLease lease)
    {
        var slot = lease.Slot;
        lock (_lock)
        {
            if (!slot.Remove(lease))
            {
                return;
            }
            if (_slots.TryGetValue(slot.Key, out var current) && current == slot)
            {
                _slots.Remove(slot.Key);
            }
        }
        slot.Close();
    }
}

/// <summary>One tunnel's hold on a server's slot; disposing it lets the slot close when nobody else holds it.</summary>
internal sealed class SshSessionLease(SshSessionPool pool, SshSessionSlot slot, ProbeConfig probe) : IDisposable
{
    private int _disposed;

    public SshSessionSlot Slot { get; } = slot;
    public ProbeConfig Probe { get; } = probe;

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            pool.Release(this);
        }
    }
}
