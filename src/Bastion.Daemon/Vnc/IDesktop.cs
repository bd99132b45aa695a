using Bastion.Vnc;

namespace Bastion.Daemon.Vnc;

/// <summary>
/// What <see cref="VncComponent"/>'s loop does with the desktop's processes: <see cref="VncDesktop"/> with real Xvnc and
/// session processes; in the daemon's unit tests a scripted one on a fake clock. Used by one owner loop only.
/// </summary>
internal interface IDesktop
{
    /// <summary>The display Xvnc runs on (the configured one unless it was taken).</summary>
    int Display { get; }

    IDesktopProcess? Xvnc { get; }

    IDesktopProcess? Session { get; }

    /// <summary>Starts Xvnc and waits until it answers; throws <see cref="DesktopStartException"/> with the reason.</summary>
    Task<RfbProbeResult> StartXvncAsync(string password, TimeProvider time, CancellationToken cancellationToken);

    /// <summary>Starts the session on the display; throws <see cref="DesktopStartException"/> with the reason.</summary>
    void StartSession();

    Task<RfbProbeResult> ProbeAsync(string password, TimeProvider time, CancellationToken cancellationToken);

    /// <summary>Who is logged in on the desktop's console, or null.</summary>
    string? LoggedInUser();

    Task StopSessionAsync(TimeProvider time);

    /// <summary>Stops the session and Xvnc.</summary>
    Task StopAsync(TimeProvider time);

    /// <summary>Forgets an Xvnc that exited by itself (after its exit has been reported).</summary>
    void ForgetXvnc();
}

/// <summary>Xvnc or the session as the loop sees it.</summary>
internal interface IDesktopProcess
{
    int Pid { get; }

    /// <summary>Completes when the process has exited (never faults).</summary>
    Task Exited { get; }

    bool HasExited { get; }

    /// <summary>"exited with code 1", "exited with signal 9".</summary>
    string ExitDescription { get; }

    /// <summary>The last lines of its output.</summary>
    IReadOnlyList<string> LastLines { get; }

    /// <summary>Hands any output still buffered to the log.</summary>
    void Flush();
}
