using Bastion.Daemon.Vnc;
using Bastion.Supervision;
using Bastion.Vnc;

namespace Bastion.Daemon.Tests.Vnc;

/// <summary>A desktop whose Xvnc and session are scripted by the test: what <see cref="VncComponent"/>'s loop is tested against.</summary>
internal sealed class ScriptedDesktop(TimeProvider time) : IDesktop
{
    private readonly Lock _lock = new();
    private readonly List<DateTimeOffset> _xvncStarts = [];
    private readonly List<DateTimeOffset> _sessionStarts = [];
    private int _nextPid = 1000;
    private ScriptedProcess? _xvnc;
    private ScriptedProcess? _session;
    private int _failStarts;

    public int Display => 35;

    public IDesktopProcess? Xvnc
    {
        get { lock (_lock) { return _xvnc; } }
    }

    public IDesktopProcess? Session
    {
        get { lock (_lock) { return _session; } }
    }

    /// <summary>When Xvnc was started (each start that succeeded), on the fake clock.</summary>
    public IReadOnlyList<DateTimeOffset> XvncStarts
    {
        get { lock (_lock) { return [.. _xvncStarts]; } }
    }

    public IReadOnlyList<DateTimeOffset> SessionStarts
    {
        get { lock (_lock) { return [.. _sessionStarts]; } }
    }

    public int Stops { get; private set; }

    /// <summary>The next <paramref name="count"/> Xvnc starts fail.</summary>
    public void FailStarts(int count)
    {
        lock (_lock)
        {
            _failStarts = count;
        }
    }

    /// <summary>Xvnc dies by itself (SIGKILL, a crash).</summary>
    public void KillXvnc() => Current(x: true)!.End("exited with signal 9");

    /// <summary>The session ends by itself.</summary>
    public void EndSession() => Current(x: false)!.End("exited with code 0");

    private ScriptedProcess? Current(bool x)
    {
        lock (_lock)
        {
            return x ? _xvnc : _session;
        }
    }

    public Task<RfbProbeResult> StartXvncAsync(string password, TimeProvider _, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            if (_failStarts > 0)
            {
                _failStarts--;
                throw new DesktopStartException("display :35 is taken: scripted");
            }
            _xvnc = new ScriptedProcess(_nextPid++);
            _xvncStarts.Add(time.GetUtcNow());
        }
        return Task.FromResult(Up());
    }

    public void StartSession()
    {
        lock (_lock)
        {
            _session = new ScriptedProcess(_nextPid++);
            _sessionStarts.Add(time.GetUtcNow());
        }
    }

    public Task<RfbProbeResult> ProbeAsync(string password, TimeProvider _, CancellationToken cancellationToken) =>
        Task.FromResult(Xvnc is { HasExited: false } ? Up() : new RfbProbeResult(RfbHealth.Dead, "no socket"));

    public string? LoggedInUser() => null;

    public Task StopSessionAsync(TimeProvider _)
    {
        lock (_lock)
        {
            _session?.End("exited with signal 15");
            _session = null;
        }
        return Task.CompletedTask;
    }

    public Task StopAsync(TimeProvider _)
    {
        lock (_lock)
        {
            if (_xvnc is not null)
            {
                Stops++;
            }
            _session?.End("exited with signal 15");
            _xvnc?.End("exited with signal 15");
            _session = _xvnc = null;
        }
        return Task.CompletedTask;
    }

    public void ForgetXvnc()
    {
        lock (_lock)
        {
            _xvnc = null;
        }
    }

    private static RfbProbeResult Up() => new(RfbHealth.Up, "1280x800 'scripted'");
}

internal sealed class ScriptedProcess(int pid) : IDesktopProcess
{
    private readonly TaskCompletionSource _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile string _exit = "still running";

    public int Pid { get; } = pid;
    public Task Exited => _exited.Task;
    public bool HasExited => _exited.Task.IsCompleted;
    public string ExitDescription => _exit;
    public IReadOnlyList<string> LastLines => [];

    public void End(string how)
    {
        _exit = how;
        _exited.TrySetResult();
    }

    public void Flush()
    {
        // no output to hand on
    }
}

/// <summary>What the component reports, as its supervisor would see it.</summary>
internal sealed class RecordingContext(TimeProvider time) : IComponentContext
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, string> _details = new(StringComparer.Ordinal);
    private (ComponentState State, string Reason) _current = (ComponentState.Starting, "");

    public TimeProvider Time { get; } = time;

    public (ComponentState State, string Reason) Current
    {
        get { lock (_lock) { return _current; } }
    }

    public string Detail(string key)
    {
        lock (_lock)
        {
            return _details.GetValueOrDefault(key) ?? "";
        }
    }

    public void ReportRunning(string reason) => Set(ComponentState.Running, reason);
    public void ReportDegraded(string reason) => Set(ComponentState.Degraded, reason);
    public void ReportFailed(string reason) => Set(ComponentState.Failed, reason);
    public void ReportStandby(string reason) => Set(ComponentState.Standby, reason);

    public void SetDetail(string key, string value)
    {
        lock (_lock)
        {
            _details[key] = value;
        }
    }

    private void Set(ComponentState state, string reason)
    {
        lock (_lock)
        {
            _current = (state, reason);
        }
    }
}
