using System.Net;

namespace Bastion.Tls;

/// <summary>
/// Per-address limit on failed handshakes in a sliding minute: past the limit, that address's new connections are closed
/// before any TLS work until old failures age out. Guards against scanners and certificate guessing; other addresses are
/// not affected. Bounded memory: at most <see cref="MaxTrackedAddresses"/> addresses are remembered.
/// </summary>
public sealed class HandshakeLimiter(int maxFailuresPerMinute, TimeProvider time)
{
    public const int MaxTrackedAddresses = 4096;
    private static readonly TimeSpan Window = TimeSpan.FromMinutes(1);
    private readonly Dictionary<IPAddress, Queue<DateTimeOffset>> _failures = [];
    private readonly Lock _gate = new();

    public int MaxFailuresPerMinute { get; } = maxFailuresPerMinute;

    /// <summary>True when <paramref name="address"/> has used up its failures for now.</summary>
    public bool IsBlocked(IPAddress address)
    {
        lock (_gate)
        {
            return _failures.TryGetValue(Normalize(address), out var q) && Trim(q) >= MaxFailuresPerMinute;
        }
    }

    /// <summary>Records a failed handshake; true when this one reached the limit (log it once, not every refusal after).</summary>
    public bool RecordFailure(IPAddress address)
    {
        lock (_gate)
        {
            address = Normalize(address);
            if (!_failures.TryGetValue(address, out var q))
            {
                if (_failures.Count >= MaxTrackedAddresses)
                {
                    Prune();
                }
                q = new Queue<DateTimeOffset>();
                _failures[address] = q;
            }
            Trim(q);
            q.Enqueue(time.GetUtcNow());
            return q.Count == MaxFailuresPerMinute;
        }
    }

    private int Trim(Queue<DateTimeOffset> q)
    {
        var cutoff = time.GetUtcNow() - Window;
        while (q.Count > 0 && q.Peek() <= cutoff)
        {
            q.Dequeue();
        }
        return q.Count;
    }

    private void Prune()
    {
        foreach (var (address, q) in _failures.ToList())
        {
            if (Trim(q) == 0)
            {
                _failures.Remove(address);
            }
        }
        if (_failures.Count >= MaxTrackedAddresses)
        {
            _failures.Clear(); // a flood from many addresses: forget rather than grow without bound
        }
    }

    private static IPAddress Normalize(IPAddress address) => address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
}
