using System.Text.Json.Serialization;
using Bastion.Status;

namespace Bastion.Cli;

/// <summary>
/// What <c>bastionctl status --json</c> and <c>bastionctl tunnels --json</c> print on stdout: one JSON object, a stable
/// contract for scripts (fields are added, never renamed or removed; also documented in README.md).
/// <code>
/// {
///   "source": "dbus",          // where the status came from: "dbus" (the daemon, asked now) or "status-file" (fallback)
///   "dbusError": null,         // with "status-file": why D-Bus was not used (bus down, daemon not on it, dbus.bus: none)
///   "stale": false,            // true: the daemon that wrote it is not running; the rest is its last known status (exit code 3)
///   "schema": 1,               // StatusSnapshot schema of the daemon that wrote it
///   "daemon": {
///     "pid": 4242, "version": "0.1.0",
///     "state": "running",      // starting | running | reloading | stopping
///     "summary": "…",          // the one-line systemd STATUS=
///     "configPath": "/etc/bastion/bastion.yaml",
///     "startedAt": "2026-11-22T10:00:00+00:00",   // ISO 8601, with offset
///     "lastReloadAt": null,    // or a time: the last reload, applied or refused
///     "configErrors": [],      // non-empty: the last reload was refused, the daemon runs on the last good config
///     "writtenAt": "2026-11-22T10:03:12+00:00"
///   },
///   "components": [            // tunnels --json: only kind "tunnel"
///     {
///       "kind": "tunnel",      // check | tunnel | tor | onion | vnc | tls
///       "name": "office",
///       "state": "Running",    // Starting | Running | Degraded | Backoff | Stopping | Stopped | Failed | Standby
///       "reason": "…",         // why it is in that state, never truncated
///       "since": "2026-11-22T10:00:05+00:00",
///       "starts": 1,           // 1 = never restarted
///       "instance": "…",       // changes when the component is (re)created
///       "details": { }         // kind-specific strings
///     }
///   ]
/// }
/// </code>
/// Nothing is printed on stdout when there is no status at all (exit code 3, message on stderr).
/// </summary>
internal sealed record StatusReport
{
    public const string SourceStatusFile = "status-file";
    public const string SourceDbus = "dbus";

    public required string Source { get; init; }
    public string? DbusError { get; init; }
    public required bool Stale { get; init; }
    public required int Schema { get; init; }
    public required DaemonStatus Daemon { get; init; }
    public required IReadOnlyList<ComponentStatus> Components { get; init; }

    public static StatusReport From(DaemonStatusReading reading, IReadOnlyList<ComponentStatus> components) => new()
    {
        Source = reading.Source,
        DbusError = reading.DbusError,
        Stale = reading.IsStale,
        Schema = reading.Snapshot.Schema,
        Daemon = reading.Snapshot.Daemon,
        Components = components,
    };
}

/// <summary>Source-generated, so bastionctl stays NativeAOT-compatible; same naming as <see cref="StatusJsonContext"/>.</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    WriteIndented = true,
    DefaultIgnoreCondition = JsonIgnoreCondition.Never)]
[JsonSerializable(typeof(StatusReport))]
internal sealed partial class StatusReportJsonContext : JsonSerializerContext;
