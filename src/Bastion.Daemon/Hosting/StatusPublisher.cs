using Bastion.Status;
using Bastion.Supervision;
using Microsoft.Extensions.Logging;

namespace Bastion.Daemon.Hosting;

/// <summary>
/// Builds the status snapshot and writes <c>{runtimeDir}/status.json</c> atomically; a failed write is logged once, not fatal.
/// The same snapshot is what the D-Bus API answers from, so both always agree.
/// </summary>
internal sealed class StatusPublisher(TimeProvider time, ILogger logger, DateTimeOffset startedAt)
{
    private string? _lastWriteError;
    // status.json's bytes, made in place each time: 200 components are about 100 KB of JSON, which as a fresh string
    // and byte array every few seconds landed on the large-object heap and stayed until a full collection.
    private readonly System.Buffers.ArrayBufferWriter<byte> _buffer = new(64 * 1024);

    /// <summary>The last snapshot published (null before the first).</summary>
    public StatusSnapshot? Last { get; private set; }

    /// <summary>
    /// The components' status. An entry that has not changed since <paramref name="previous"/> (same instance, state
    /// record, starts and details copy) is that same object: the snapshot is rebuilt every few seconds and kept until the
    /// next, so fresh copies of 200 idle tunnels would be promoted by the GC and held (BENCHMARKS.md, 200 forwards).
    /// </summary>
    public static IReadOnlyList<ComponentStatus> Components(Supervisor supervisor, IReadOnlyList<ComponentStatus>? previous = null)
    {
        var current = supervisor.Components;
        var list = new ComponentStatus[current.Count];
        for (var i = 0; i < current.Count; i++)
        {
            var c = current[i];
            var state = c.State;
            var starts = c.Starts;
            var details = c.Details;
            if (previous is not null && i < previous.Count && previous[i] is var before
                && ReferenceEquals(before.Instance, c.Instance) && before.Starts == starts && before.Since == state.Since
                && ReferenceEquals(before.Reason, state.Reason) && ReferenceEquals(before.Details, details)
                && before.State == state.State.ToString())
            {
                list[i] = before;
                continue;
            }
            list[i] = new ComponentStatus
            {
                Kind = c.Id.Kind,
                Name = c.Id.Name,
                State = state.State.ToString(),
                Reason = state.Reason,
                Since = state.Since,
                Starts = starts,
                Instance = c.Instance,
                Details = details,
            };
        }
        return list;
    }

    public StatusSnapshot Publish(string runtimeDir, string daemonState, string summary, string configPath,
        DateTimeOffset? lastReloadAt, IReadOnlyList<string> configErrors, IReadOnlyList<ComponentStatus> components)
    {
        var snapshot = new StatusSnapshot
        {
            Daemon = new DaemonStatus
            {
                Pid = Environment.ProcessId,
                Version = DaemonVersion.Text,
                State = daemonState,
                Summary = summary,
                ConfigPath = configPath,
                StartedAt = startedAt,
                LastReloadAt = lastReloadAt,
                ConfigErrors = configErrors,
                WrittenAt = time.GetUtcNow(),
            },
            Components = components,
        };
        var path = Path.Combine(runtimeDir, StatusSnapshot.FileName);
        try
        {
            StatusFile.WriteAtomically(path, snapshot, _buffer);
            _lastWriteError = null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            if (_lastWriteError != e.Message)
            {
                _lastWriteError = e.Message;
                DaemonLog.StatusWriteFailed(logger, path, e.Message);
            }
        }
        Last = snapshot;
        return snapshot;
    }
}
