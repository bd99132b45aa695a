using System.Globalization;
using System.Text.Json;
using Bastion.Status;

namespace Bastion.Cli;

/// <summary>
/// The daemon's status as its status file tells it, and whether the daemon that wrote the file is still running.
/// </summary>
/// <param name="Path">The status file.</param>
/// <param name="Snapshot">What it says.</param>
/// <param name="StaleReason">Null while the daemon runs; otherwise why the file is only the last known status.</param>
/// <param name="Source"><see cref="StatusReport.SourceDbus"/> or <see cref="StatusReport.SourceStatusFile"/>.</param>
/// <param name="DbusError">Why the status did not come from D-Bus (null when it did).</param>
internal sealed record DaemonStatusReading(string Path, StatusSnapshot Snapshot, string? StaleReason,
    string Source = StatusReport.SourceStatusFile, string? DbusError = null)
{
    public bool IsStale => StaleReason is not null;
}

/// <summary>Reads <c>{runtimeDir}/status.json</c>; every way of not getting a status ends in exit code 3 with a message that says what to check.</summary>
internal static class DaemonStatusReader
{
    private const string CheckService = "is bastiond running? (systemctl status bastion)";

    /// <summary>
    /// A status file is only as fresh as the writer: a pid that is not a bastiond can still be its writer (a daemon started under
    /// another name) when the process was already running as the file was written; a process that started afterwards cannot be.
    /// </summary>
    private static readonly TimeSpan StartTimeTolerance = TimeSpan.FromSeconds(1);

    public static DaemonStatusReading Read(string runtimeDir, TimeProvider time)
    {
        var path = System.IO.Path.Combine(runtimeDir, StatusSnapshot.FileName);
        var snapshot = ReadSnapshot(path);
        return new DaemonStatusReading(path, snapshot, WhyStale(path, snapshot, time));
    }

    /// <summary>Reads the file only; for waiting on a change, where the daemon is checked separately.</summary>
    public static StatusSnapshot ReadSnapshot(string path)
    {
        string json;
        try
        {
            json = File.ReadAllText(path);
        }
        catch (FileNotFoundException)
        {
            throw new CommandException(ExitCodes.DaemonUnreachable, $"no status file at {path} — {CheckService}");
        }
        catch (DirectoryNotFoundException)
        {
            var dir = System.IO.Path.GetDirectoryName(path);
            throw new CommandException(ExitCodes.DaemonUnreachable,
                $"no status file at {path} (the directory {dir} does not exist) — {CheckService}");
        }
        catch (UnauthorizedAccessException)
        {
            throw new CommandException(ExitCodes.DaemonUnreachable,
                $"cannot read {path}: permission denied — run bastionctl as root, or as a user allowed to read the runtime directory");
        }
        catch (IOException e)
        {
            throw new CommandException(ExitCodes.DaemonUnreachable, $"cannot read {path}: {e.Message}");
        }

        StatusSnapshot? snapshot;
        try
        {
            snapshot = StatusFile.Deserialize(json);
        }
        catch (JsonException e)
        {
            throw new CommandException(ExitCodes.DaemonUnreachable,
                $"{path} is not a bastiond status file ({e.Message}) — {CheckService}");
        }
        if (snapshot is null)
        {
            throw new CommandException(ExitCodes.DaemonUnreachable, $"{path} is empty (null) — {CheckService}");
        }
        return snapshot;
    }

    private static string? WhyStale(string path, StatusSnapshot snapshot, TimeProvider time)
    {
        var pid = snapshot.Daemon.Pid;
        var pidText = pid.ToString(CultureInfo.InvariantCulture);
        if (pid <= 0)
        {
            return $"{path} names no valid pid ({pidText})";
        }
        var process = DaemonProcess.Find(pid, time);
        if (process is null && DaemonProcess.ExistsButHidden(pid))
        {
            // Probably root's bastiond behind hidepid=: it exists; who it is cannot be checked without privileges.
            return null;
        }
        if (process is null || process.IsZombie)
        {
            return $"pid {pidText} is gone";
        }
        if (process.IsBastiond)
        {
            // By name: trusted whatever the clocks say (the wall clock may have been stepped since boot).
            return null;
        }
        if (process.StartedAt > snapshot.Daemon.WrittenAt + StartTimeTolerance)
        {
            return $"pid {pidText} now belongs to {process.Describe()}, which started after the status file was written";
        }
        return null;
    }
}
