using Bastion.Config;
using Bastion.Ssh;
using Microsoft.Extensions.Logging;

namespace Bastion.Daemon.Tunnels;

/// <summary>
/// The succession of sessions to one server while any tunnel needs it: one <see cref="SharedSshSession"/> at a time,
/// replaced when it ends after the delay of one <see cref="SshReconnectSchedule"/> for the server. Tunnels watch
/// <see cref="Current"/> and <see cref="Changed"/>; they never connect or back off on their own.
/// </summary>
#pragma warning disable CA1001 // _stop is only ever cancelled (no timer): nothing to release
internal sealed class SshSessionSlot
#pragma warning restore CA1001
{
    private readonly Lock _lock = new();
    private readonly List<SshSessionLease> _leases = [];
    private readonly Func<long> _nextId;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly SshReconnectSchedule _schedule = new();
    private readonly CancellationTokenSource _stop = new();
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private SharedSshSession? _current;
    private long _retryAt;
    private bool _closed;

    public SshSessionSlot(SshSessionKey key, Func<long> nextId, ILogger logger, TimeProvider time)
    {
        Key = key;
        _nextId = nextId;
        _logger = logger;
        _time = time;
    }

    public SshSessionKey Key { get; }

    /// <summary>The session now (connecting, up, or ended and waiting for its successor), and the signal of the next one.</summary>
    public (SharedSshSession Session, Task Changed) Current
    {
        get
        {
            lock (_lock)
            {
                return (_current!, _changed.Task);
            }
        }
    }

    /// <summary>Completes when the slot moves to a new session (or learns when it will).</summary>
    public Task Changed
    {
        get { lock (_lock) { return _changed.Task; } }
    }

    /// <summary>When the next session will be started, if the current one ended; null otherwise.</summary>
    public TimeSpan? RetryIn
    {
        get
        {
            lock (_lock)
            {
                if (_retryAt == 0)
                {
                    return null;
                }
                var left = _retryAt - _time.GetTimestamp();
                return left <= 0 ? TimeSpan.Zero : TimeSpan.FromSeconds((double)left / _time.TimestampFrequency);
            }
        }
    }

    internal void Add(SshSessionLease lease)
    {
        bool first;
        lock (_lock)
        {
            _leases.Add(lease);
            first = _current is null;
            if (first)
            {
                _current = NewSession();
            }
        }
        if (first)
        {
            _current!.Start();
            _ = Task.Run(RunAsync);
        }
    }

    /// <summary>True when that was the last lease.</summary>
    internal bool Remove(SshSessionLease lease)
    {
        lock (_lock)
        {
            _leases.Remove(lease);
            return _leases.Count == 0;
        }
    }

    private SharedSshSession NewSession() => new(Key, _nextId(), StrictestProbe, _logger, _time);

    /// <summary>Starts the next session whenever the current one ends, after the schedule's delay.</summary>
    private async Task RunAsync()
    {
        try
        {
            while (true)
            {
                SharedSshSession session;
                lock (_lock)
                {
                    session = _current!;
                }
                while (!session.IsEnded)
                {
                    await session.Changed.WaitAsync(_stop.Token).ConfigureAwait(false);
                }
                var failure = session.Failure ?? new SshFailure(SshFailureKind.Other, "ended");
                var delay = _schedule.NextDelay(failure.Kind, session.UpFor);
                TaskCompletionSource changed;
                lock (_lock)
                {
                    if (_closed)
                    {
                        return;
                    }
                    _retryAt = _time.GetTimestamp() + (long)(delay.TotalSeconds * _time.TimestampFrequency);
                    changed = Swap();
                }
                changed.TrySetResult();
                if (delay > TimeSpan.Zero)
                {
                    await Task.Delay(delay, _time, _stop.Token).ConfigureAwait(false);
                }
                lock (_lock)
                {
                    if (_closed)
                    {
                        return;
                    }
                    _retryAt = 0;
                    _current = session = NewSession();
                    changed = Swap();
                }
                session.Start();
                changed.TrySetResult();
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
        }
    }

    private TaskCompletionSource Swap()
    {
        var old = _changed;
        _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
        return old;
    }

    /// <summary>The strictest probe settings among the tunnels on this server.</summary>
    private ProbeConfig StrictestProbe()
    {
        ProbeConfig[] probes;
        lock (_lock)
        {
            probes = [.. _leases.Select(l => l.Probe)];
        }
        if (probes.Length == 0)
        {
            return new ProbeConfig();
        }
        return new ProbeConfig
        {
            Interval = probes.Min(p => p.Interval),
            Timeout = probes.Min(p => p.Timeout),
            Failures = probes.Min(p => p.Failures),
        };
    }

    /// <summary>The last tunnel left: no more reconnects; the current session closes in the background.</summary>
    public void Close()
    {
        SharedSshSession? session;
        TaskCompletionSource changed;
        lock (_lock)
        {
            _closed = true;
            session = _current;
            changed = Swap();
        }
        _stop.Cancel();
        session?.Close();
        changed.TrySetResult();
    }
}
