using System.Collections.Concurrent;
using Bastion.Vnc;

namespace Bastion.Daemon.Vnc;

/// <summary>Why the gate is closed; the endpoint that fronts the desktop makes its words (TlsEndpoint.StandbyReason).</summary>
public enum GateClosure
{
    /// <summary>No attempt of vnc/desktop has opened it yet.</summary>
    NotStarted,

    /// <summary>The vnc/desktop attempt ended (daemon stop, reload, failure).</summary>
    DesktopStopped,

    /// <summary>The policy lowered the desktop (<see cref="GateClosed.Decision"/> says why).</summary>
    Lowered,

    /// <summary>Xvnc exited and is being restarted (<see cref="GateClosed.XvncExit"/> says how it ended).</summary>
    XvncRestarting,
}

/// <summary>A closed gate's reason, with the facts the words are made from.</summary>
public sealed record GateClosed(GateClosure Kind, VncDecision? Decision = null, string? XvncExit = null)
{
    public static GateClosed NotStarted { get; } = new(GateClosure.NotStarted);

    public static GateClosed DesktopStopped { get; } = new(GateClosure.DesktopStopped);

    public static GateClosed Lowered(VncDecision decision) => new(GateClosure.Lowered, decision);

    public static GateClosed XvncRestarting(string exit) => new(GateClosure.XvncRestarting, XvncExit: exit);
}

/// <summary>
/// Where the emergency desktop (<c>vnc/desktop</c>) and the TLS endpoint that fronts it (<c>tls/NAME</c>) meet: the desktop
/// opens the gate once Xvnc answers its probe and closes it before stopping Xvnc; the endpoint listens (or dials) only while
/// the gate is open, counts the connections it relays to the desktop and says where it listens. One per endpoint name and
/// daemon, held by <see cref="VncGates"/> across reloads (a reload that restarts only one of the two components must leave
/// them connected).
/// Either side waits for the other's changes with <see cref="Changed"/>.
/// </summary>
public sealed class VncGate
{
    private readonly Lock _lock = new();
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private bool _open;
    private GateClosed _closedReason = GateClosed.NotStarted;
    private string? _serving;
    private int _clients;

    internal VncGate(string endpoint) => Endpoint = endpoint;

    public string Endpoint { get; }

    public bool IsOpen
    {
        get { lock (_lock) { return _open; } }
    }

    /// <summary>While closed: why (shown by the endpoint's Standby state).</summary>
    public GateClosed ClosedReason
    {
        get { lock (_lock) { return _closedReason; } }
    }

    /// <summary>Connections relayed to the desktop right now.</summary>
    public int Clients
    {
        get { lock (_lock) { return _clients; } }
    }

    /// <summary>What the endpoint does while open ("listening on 127.0.0.1:5901", "phoning home to …"); null when it does not (yet).</summary>
    public string? Serving
    {
        get { lock (_lock) { return _serving; } }
    }

    /// <summary>Completes at the next change of anything above.</summary>
    public Task Changed
    {
        get { lock (_lock) { return _changed.Task; } }
    }

    public void Open() => Update(() =>
    {
        var was = _open;
        _open = true;
        return !was;
    });

    public void Close(GateClosed reason) => Update(() =>
    {
        var changed = _open || _closedReason != reason;
        _open = false;
        _closedReason = reason;
        return changed;
    });

    public void SetServing(string? serving) => Update(() =>
    {
        var changed = _serving != serving;
        _serving = serving;
        return changed;
    });

    /// <summary>Clears <see cref="Serving"/> only if it still says <paramref name="mine"/> (a restarted endpoint may have set its own meanwhile).</summary>
    public void ClearServing(string? mine) => Update(() =>
    {
        if (mine is null || _serving != mine)
        {
            return false;
        }
        _serving = null;
        return true;
    });

    public void ClientConnected() => Update(() =>
    {
        _clients++;
        return true;
    });

    public void ClientDisconnected() => Update(() =>
    {
        _clients = Math.Max(0, _clients - 1);
        return true;
    });

    private void Update(Func<bool> change)
    {
        TaskCompletionSource? fire = null;
        lock (_lock)
        {
            if (change())
            {
                fire = _changed;
                _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
            }
        }
        fire?.TrySetResult();
    }
}

/// <summary>The daemon's <see cref="VncGate"/>s, one per endpoint name (held by <see cref="Components.DaemonRuntime"/>).</summary>
public sealed class VncGates
{
    private readonly ConcurrentDictionary<string, VncGate> _gates = new(StringComparer.Ordinal);

    public VncGate For(string endpoint) => _gates.GetOrAdd(endpoint, name => new VncGate(name));

    /// <summary>Drops the gates of endpoints no longer fronting the desktop.</summary>
    public void Retain(IReadOnlyCollection<string> endpoints)
    {
        foreach (var name in _gates.Keys.Where(name => !endpoints.Contains(name)))
        {
            _gates.TryRemove(name, out _);
        }
    }
}
