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
/// <param name="MaxSilent">Connections that have sent nothing yet, all addresses together: cheap (a socket and a waiting
/// receive, no TLS state), so the budget is large — an admin's connection must survive this many newer idle ones from its
/// own address before its ClientHello arrives.</param>
/// <param name="MaxSilentPerAddress">The same, from one address.</param>
/// <param name="MaxPending">Handshakes in progress (bytes received) at once, all addresses together.</param>
/// <param name="MaxPendingPerAddress">Handshakes in progress at once from one address.</param>
/// <param name="MaxFailuresPerMinute">Refused certificates (or wrong VNC passwords of one certificate) in a minute past which
/// the address (or certificate) is marked as misbehaving.</param>
/// <param name="MaxTrackedKeys">Addresses (and serials) remembered; the least recently seen are forgotten first.</param>
public sealed record HandshakeLimits(int MaxSilent = 1024, int MaxSilentPerAddress = 256, int MaxPending = 128, int MaxPendingPerAddress = 32,
    int MaxFailuresPerMinute = 10, int MaxTrackedKeys = 4096);

/// <summary>
/// Keeps the endpoint's handshakes bounded without letting anyone who has no certificate lock out anyone who has one.
/// <list type="bullet">
/// <item>Pending connections are bounded globally and per address, in two budgets: silent (nothing received yet: cheap, so
/// large) and in handshake (TLS state: smaller). When a budget is full, the newcomer is still admitted: in the silent budget
/// the oldest silent connection gives way; in the handshake budget the oldest handshake without a certificate (one from a
/// suspect address first). A flood of idle sockets therefore cannot starve an admin: it would have to open
/// <see cref="HandshakeLimits.MaxSilentPerAddress"/> connections between the admin's connect and its ClientHello, and once
/// the admin has presented its certificate nothing evicts it.</item>
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
    private readonly StageCounts _silent = new();
    private readonly StageCounts _talking = new(); // bytes received, certificate or not
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

    /// <summary>Connections pending now (silent or in their handshake).</summary>
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
    /// Admits a new connection from <paramref name="address"/> as silent. When the silent budget is full, the oldest silent
    /// connection (of that address, or of all) gives way: it is returned in <paramref name="evicted"/>, already removed and
    /// its <see cref="PendingHandshake.Evicted"/> token cancelled (the caller only logs it). Returns null only when none of
    /// the connections in the full budget is silent any more (the caller closes the new connection).
    /// </summary>
    /// <param name="address">Where the connection comes from.</param>
    /// <param name="evicted">The pending connection that gave way, if any.</param>
    /// <param name="hasSpoken">Asked of a still-silent connection before it is chosen to give way: true when bytes are
    /// waiting that the connection's task has not looked at yet (on a loaded machine the task may run late; an admin's
    /// ClientHello must not be taken for silence).</param>
    public PendingHandshake? Admit(IPAddress address, out PendingHandshake? evicted, Func<bool>? hasSpoken = null)
    {
        address = Normalize(address);
        evicted = null;
        PendingHandshake admitted;
        lock (_gate)
        {
            var full = _silent.Of(address) >= Limits.MaxSilentPerAddress || _silent.Total >= Limits.MaxSilent;
            if (full)
            {
                evicted = PickVictim(_silent.Of(address) >= Limits.MaxSilentPerAddress ? address : null, HandshakeStage.Silent);
                if (evicted is null)
                {
                    return null;
                }
                RemoveLocked(evicted);
            }
            admitted = new PendingHandshake(this, address, _order++, _time.GetUtcNow(), hasSpoken);
            _pending.Add(admitted);
            _silent.Add(address);
        }
        evicted?.Evict();
        return admitted;
    }

    /// <summary>
    /// The connection sent its first bytes: it moves from the silent budget to the handshake budget. When that is full,
    /// the oldest handshake without a certificate gives way (one from a suspect address first); false when none can (every
    /// handshake in the full budget has presented a certificate): the caller closes this connection.
    /// </summary>
    internal bool Talking(PendingHandshake handshake)
    {
        PendingHandshake? evicted = null;
        lock (_gate)
        {
            if (handshake.Stage != HandshakeStage.Silent || !_pending.Contains(handshake))
            {
                return !handshake.WasEvicted;
            }
            var address = handshake.Address;
            if (_talking.Of(address) >= Limits.MaxPendingPerAddress || _talking.Total >= Limits.MaxPending)
            {
                evicted = PickVictim(_talking.Of(address) >= Limits.MaxPendingPerAddress ? address : null, HandshakeStage.Talking);
                if (evicted is null)
                {
                    return false;
                }
                RemoveLocked(evicted);
            }
            _silent.Remove(address);
            handshake.Stage = HandshakeStage.Talking;
            _talking.Add(address);
        }
        evicted?.Evict();
        return true;
    }

    private PendingHandshake? PickVictim(IPAddress? from, HandshakeStage stage)
    {
        PendingHandshake? best = null;
        var bestRank = int.MaxValue;
        foreach (var p in _pending) // oldest first: the first of the best rank wins
        {
            if (p.Stage != stage || (from is not null && !p.Address.Equals(from)))
            {
                continue;
            }
            if (stage == HandshakeStage.Silent)
            {
                if (!p.HasSpoken())
                {
                    return p;
                }
                continue;
            }
            var rank = _addressFailures.IsOver(p.Address) ? 0 : 1;
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

    internal void CertificatePresented(PendingHandshake handshake)
    {
        lock (_gate)
        {
            if (handshake.Stage == HandshakeStage.Talking)
            {
                handshake.Stage = HandshakeStage.Certificate; // still counts in the handshake budget; never evicted
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
        (handshake.Stage == HandshakeStage.Silent ? _silent : _talking).Remove(handshake.Address);
    }

    /// <summary>Connections per address in one stage, and in all.</summary>
    private sealed class StageCounts
    {
        private readonly Dictionary<IPAddress, int> _perAddress = [];

        public int Total { get; private set; }

        public int Of(IPAddress address) => _perAddress.GetValueOrDefault(address);

        public void Add(IPAddress address)
        {
            _perAddress[address] = Of(address) + 1;
            Total++;
        }

        public void Remove(IPAddress address)
        {
            var left = Of(address) - 1;
            if (left <= 0)
            {
                _perAddress.Remove(address);
            }
            else
            {
                _perAddress[address] = left;
            }
            Total--;
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
    private readonly Func<bool>? _hasSpoken;

    internal PendingHandshake(HandshakeLimiter owner, IPAddress address, long order, DateTimeOffset since, Func<bool>? hasSpoken)
    {
        _owner = owner;
        _hasSpoken = hasSpoken;
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

    /// <summary>
    /// The peer sent its first bytes: the connection moves into the handshake budget. False when that is full of handshakes
    /// that have all presented certificates (close the connection).
    /// </summary>
    public bool Talking() => _owner.Talking(this);

    /// <summary>The peer presented a certificate: from now on this handshake is never evicted.</summary>
    public void CertificatePresented() => _owner.CertificatePresented(this);

    internal bool HasSpoken()
    {
        try
        {
            return _hasSpoken?.Invoke() == true;
        }
        catch (ObjectDisposedException)
        {
            return false;
        }
    }

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
