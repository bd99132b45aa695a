using System.Buffers;
using System.Text.Json;
using System.Text.Json.Serialization;
using Bastion.IO;

namespace Bastion.Status;

/// <summary>
/// What the daemon is doing, written atomically to <c>{runtimeDir}/status.json</c> on every change.
/// <c>bastionctl status</c> reads it (and falls back to it when D-Bus is down). Field names are a stable
/// contract (schema <see cref="CurrentSchema"/>): add fields, never rename or remove them.
/// </summary>
public sealed record StatusSnapshot
{
    public const int CurrentSchema = 1;
    public const string FileName = "status.json";

    public int Schema { get; init; } = CurrentSchema;
    public required DaemonStatus Daemon { get; init; }
    public IReadOnlyList<ComponentStatus> Components { get; init; } = [];
}

/// <summary>The daemon as a whole.</summary>
public sealed record DaemonStatus
{
    public required int Pid { get; init; }
    public required string Version { get; init; }

    /// <summary><c>starting</c>, <c>running</c>, <c>reloading</c> or <c>stopping</c>.</summary>
    public required string State { get; init; }

    /// <summary>The one-line summary also sent as systemd STATUS=.</summary>
    public required string Summary { get; init; }
    public required string ConfigPath { get; init; }
    public required DateTimeOffset StartedAt { get; init; }
    public DateTimeOffset? LastReloadAt { get; init; }

    /// <summary>Errors of the last reload that was refused (the daemon runs on the last good config); empty when the last reload was good.</summary>
    public IReadOnlyList<string> ConfigErrors { get; init; } = [];
    public required DateTimeOffset WrittenAt { get; init; }
}

/// <summary>One supervised component.</summary>
public sealed record ComponentStatus
{
    /// <summary><c>check</c>, <c>tunnel</c>, <c>tor</c>, <c>onion</c>, <c>vnc</c>, <c>tls</c>.</summary>
    public required string Kind { get; init; }
    public required string Name { get; init; }

    /// <summary>Starting, Running, Degraded, Backoff, Stopping, Stopped, Failed.</summary>
    public required string State { get; init; }
    public required string Reason { get; init; }
    public required DateTimeOffset Since { get; init; }

    /// <summary>How many times the supervisor started it (1 = never restarted).</summary>
    public required long Starts { get; init; }

    /// <summary>Per-instance id: changes only when the component is (re)created, e.g. by a reload that changed it.</summary>
    public required string Instance { get; init; }
    public IReadOnlyDictionary<string, string> Details { get; init; } = new Dictionary<string, string>();
}

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    WriteIndented = true,
    DefaultIgnoreCondition = JsonIgnoreCondition.Never)]
[JsonSerializable(typeof(StatusSnapshot))]
public sealed partial class StatusJsonContext : JsonSerializerContext;

public static class StatusFile
{
    public static string Serialize(StatusSnapshot snapshot) =>
        JsonSerializer.Serialize(snapshot, StatusJsonContext.Default.StatusSnapshot);

    public static StatusSnapshot? Deserialize(string json) =>
        JsonSerializer.Deserialize(json, StatusJsonContext.Default.StatusSnapshot);

    /// <summary>
    /// Writes through <see cref="AtomicFile"/> (an unpredictable temp name created exclusively, so a planted symlink is
    /// never followed; fsync; rename), so readers never see half a file. The file is made world-readable explicitly (it
    /// holds no secret): the unit's UMask=0077 would otherwise leave it 0600 and admins' <c>bastionctl status</c> could
    /// not read it.
    /// </summary>
    public static void WriteAtomically(string path, StatusSnapshot snapshot) =>
        WriteAtomically(path, snapshot, new ArrayBufferWriter<byte>());

    /// <summary>As above, serialized straight to UTF-8 in <paramref name="buffer"/> (cleared first), which a caller that
    /// writes every few seconds keeps: no string, no new array per write.</summary>
    public static void WriteAtomically(string path, StatusSnapshot snapshot, ArrayBufferWriter<byte> buffer)
    {
        ArgumentNullException.ThrowIfNull(buffer);
        buffer.ResetWrittenCount();
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            JsonSerializer.Serialize(writer, snapshot, StatusJsonContext.Default.StatusSnapshot);
        }
        AtomicFile.Write(path, buffer.WrittenSpan, AtomicFile.Public);
    }
}
