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

    /// <summary>The last snapshot published (null before the first).</summary>
    public StatusSnapshot? Last { get; private set; }

    public static IReadOnlyList<ComponentStatus> Components(Supervisor supervisor) =>
        [.. supervisor.Components.Select(c =>
        {
            var state = c.State;
            return new ComponentStatus
            {
                Kind = c.Id.Kind,
                Name = c.Id.Name,
                State = state.State.ToString(),
                Reason = state.Reason,
                Since = state.Since,
                Starts = c.Starts,
                Instance = c.Instance,
                Details = c.Details,
            };
        })];

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
            StatusFile.WriteAtomically(path, snapshot);
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
