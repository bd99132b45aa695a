using System.Net;

namespace Bastion.Tls;

/// <summary>How far a pending handshake got: what decides which one gives way when the pending budget is full.</summary>
public enum HandshakeStage
{
    /// <summary>Connected, nothing received yet (an idle socket, or a stock viewer waiting for the server to speak).</summary>
    Silent,

    /// <summary>Bytes received (a ClientHello), no certificate seen yet.</summary>
    Talking,

    /// <summary>The peer presented a certificate; it is being (or has been) checked. Never evicted.</summary>
    Certificate,
}

/// <summary>Why a handshake failed, by what it tells about the address it came from.</summary>
public enum HandshakeFailure
{
    /// <summary>Nothing or too little sent in time, or closed early: what idle sockets and slow links do. Not evidence.</summary>
    Silent,

    /// <summary>Not TLS, a protocol or cipher we do not allow, no certificate: scanners and misconfigured clients.</summary>
    Protocol,

    /// <summary>A certificate we refuse (another CA, revoked, expired, wrong role, not pinned): evidence against the address.</summary>
    Certificate,

    /// <summary>A valid certificate refused for its wrong VNC passwords: counted under the certificate, not the address.</summary>
    PasswordLimit,
}

/// <summary>The limiter's bounds.</summary>
/// <param name="MaxPending">Handshakes in progress at once, all addresses together.</param>
/// <param name="MaxPendingPerAddress">Handshakes in progress at once from one address.</param>
/// <param name="MaxFailuresPerMinute">Refused certificates (or wrong VNC passwords of one certificate) in a minute past which
/// the address (or certificate) is marked as misbehaving.</param>
/// <param name="MaxTrackedKeys">Addresses (and serials) remembered; the least recently seen are forgotten first.</param>
public sealed record HandshakeLimits(int MaxPending = 128, int MaxPendingPerAddress = 32, int MaxFailuresPerMinute = 10, int MaxTrackedKeys = 4096);

/// <summary>
/// Keeps the endpoint's handshakes bounded without letting anyone who has no certificate lock out anyone who has one.
/// <list type="bullet">
/// <item>Pending handshakes are bounded globally and per address. When a budget is full, a new connection is still admitted:
/// the oldest pending handshake that has not presented a certificate gives way (silent sockets first, then handshakes from
/// addresses that presented bad certificates, then the oldest). A flood of idle sockets therefore cannot starve an admin's
/// handshake: the newest connection always gets in, and an admin's handshake reaches its certificate in milliseconds.</item>
/// <item>Failures are counted by kind: only a refused certificate is evidence against an address; silence, timeouts and
/// protocol failures are not. An address past the limit is <see cref="IsSuspect">suspect</see>: its pending handshakes
/// give way first, and its refusals are logged in aggregate — but a handshake that presents a valid certificate is never
/// refused because of its address (addresses are shared: NAT, a jump host, everything arriving as 127.0.0.1 through a
/// tunnel, the onion service or a local proxy).</item>
/// <item>Wrong VNC passwords are counted per certificate serial: a certificate past the limit is refused (after its
/// certificate check) until its failures age out — the holder of another certificate is not affected.</item>
/// </list>
/// Memory is bounded: the pending set by the budgets, the counts by <see cref="HandshakeLimits.MaxTrackedKeys"/> (LRU).
/// </summary>
public sealed class HandshakeLimiter
{
    private static readonly TimeSpan Window = TimeSpan.FromMinutes(1);

    private readonly List<PendingHandshake> _pending = []; // oldest first
    private readonly Dictionary<IPAddress, int> _pendingPerAddress = [];
    private readonly SlidingCounter<IPAddress> _addressFailures;
    private readonly SlidingCounter<string> _passwordFailures;
    private readonly TimeProvider _time;
    private readonly Lock _gate = new();
    private long _order;

    public HandshakeLimiter(HandshakeLimits limits, TimeProvider time)
    {
        Limits = limits;
        _time = time;
        _addressFailures = new SlidingCounter<IPAddress>(limits.MaxFailuresPerMinute, Window, limits.MaxTrackedKeys, time);
        _passwordFailures = new SlidingCounter<string>(limits.MaxFailuresPerMinute, Window, limits.MaxTrackedKeys, time);
    }

    public HandshakeLimits Limits { get; }

    public int MaxFailuresPerMinute => Limits.MaxFailuresPerMinute;

    /// <summary>Handshakes pending now.</summary>
    public int Pending
    {
        get
        {
            lock (_gate)
            {
                return _pending.Count;
            }
        }
    }

    /// <summary>Addresses whose failures are remembered (bounded by <see cref="HandshakeLimits.MaxTrackedKeys"/>).</summary>
    public int TrackedAddresses => _addressFailures.Count;

    /// <summary>
    /// Admits a new connection from <paramref name="address"/>. When a budget is full, the pending handshake that gives way
    /// is returned in <paramref name="evicted"/> (already removed and its <see cref="PendingHandshake.Evicted"/> token
    /// cancelled: the caller only logs it). Returns null only when every pending handshake in the full budget has presented
    /// a certificate (they finish within milliseconds); the caller closes the new connection.
    /// </summary>
    public PendingHandshake? Admit(IPAddress address, out PendingHandshake? evicted)
    {
        address = Normalize(address);
        evicted = null;
        PendingHandshake admitted;
        lock (_gate)
        {
            var fromAddress = _pendingPerAddress.GetValueOrDefault(address);
            if (fromAddress >= Limits.MaxPendingPerAddress)
            {
                evicted = PickVictim(address);
            }
            else if (_pending.Count >= Limits.MaxPending)
            {
                evicted = PickVictim(null);
            }
            if ((fromAddress >= Limits.MaxPendingPerAddress || _pending.Count >= Limits.MaxPending) && evicted is null)
            {
                return null;
            }
            if (evicted is not null)
            {
                RemoveLocked(evicted);
            }
            admitted = new PendingHandshake(this, address, _order++, _time.GetUtcNow());
            _pending.Add(admitted);
            _pendingPerAddress[address] = _pendingPerAddress.GetValueOrDefault(address) + 1;
        }
        evicted?.Evict();
        return admitted;
    }

    private PendingHandshake? PickVictim(IPAddress? from)
    {
        PendingHandshake? best = null;
        var bestRank = int.MaxValue;
        foreach (var p in _pending) // oldest first: the first of the best rank wins
        {
            if (p.Stage == HandshakeStage.Certificate || (from is not null && !p.Address.Equals(from)))
            {
                continue;
            }
            var rank = p.Stage == HandshakeStage.Silent ? 0 : _addressFailures.IsOver(p.Address) ? 1 : 2;
            if (rank < bestRank)
            {
                best = p;
                bestRank = rank;
                if (rank == 0)
                {
                    break;
                }
            }
        }
        return best;
    }

    internal void Advance(PendingHandshake handshake, HandshakeStage stage)
    {
        lock (_gate)
        {
            if (handshake.Stage < stage)
            {
                handshake.Stage = stage;
            }
        }
    }

    internal void Release(PendingHandshake handshake)
    {
        lock (_gate)
        {
            RemoveLocked(handshake);
        }
    }

    private void RemoveLocked(PendingHandshake handshake)
    {
        if (!_pending.Remove(handshake))
        {
            return;
        }
        var left = _pendingPerAddress[handshake.Address] - 1;
        if (left == 0)
        {
            _pendingPerAddress.Remove(handshake.Address);
        }
        else
        {
            _pendingPerAddress[handshake.Address] = left;
        }
    }

    /// <summary>
    /// Records a failed handshake of the given kind. Only <see cref="HandshakeFailure.Certificate"/> counts against the
    /// address; true when this one made the address suspect (log that once).
    /// </summary>
    public bool RecordFailure(IPAddress address, HandshakeFailure kind) =>
        kind == HandshakeFailure.Certificate && _addressFailures.Record(Normalize(address));

    /// <summary>True while <paramref name="address"/> has presented <see cref="MaxFailuresPerMinute"/> refused certificates in a minute.</summary>
    public bool IsSuspect(IPAddress address) => _addressFailures.IsOver(Normalize(address));

    /// <summary>Records a wrong VNC password sent under certificate <paramref name="serial"/>; true when it reached the limit.</summary>
    public bool RecordPasswordFailure(string serial) => _passwordFailures.Record(serial);

    /// <summary>True while certificate <paramref name="serial"/> has used up its VNC password attempts for now.</summary>
    public bool IsCertificateBlocked(string serial) => _passwordFailures.IsOver(serial);

    private static IPAddress Normalize(IPAddress address) => address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
}

/// <summary>
/// One admitted connection's place in the pending budget, from accept until its certificate is accepted (then
/// <see cref="Dispose"/>: the relay does not count) or the connection ends.
/// </summary>
public sealed class PendingHandshake : IDisposable
{
    private readonly HandshakeLimiter _owner;
    private readonly CancellationTokenSource _evicted = new();

    internal PendingHandshake(HandshakeLimiter owner, IPAddress address, long order, DateTimeOffset since)
    {
        _owner = owner;
        Address = address;
        Order = order;
        Since = since;
    }

    public IPAddress Address { get; }
    public long Order { get; }
    public DateTimeOffset Since { get; }
    public HandshakeStage Stage { get; internal set; }

    /// <summary>Cancelled when this handshake gave way to a newer connection.</summary>
    public CancellationToken Evicted => _evicted.Token;

    public bool WasEvicted => _evicted.IsCancellationRequested;

    /// <summary>The peer sent its first bytes.</summary>
    public void Talking() => _owner.Advance(this, HandshakeStage.Talking);

    /// <summary>The peer presented a certificate: from now on this handshake is never evicted.</summary>
    public void CertificatePresented() => _owner.Advance(this, HandshakeStage.Certificate);

    internal void Evict()
    {
        try
        {
            _evicted.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }
    }

    public void Dispose()
    {
        _owner.Release(this);
        _evicted.Dispose();
    }
}
