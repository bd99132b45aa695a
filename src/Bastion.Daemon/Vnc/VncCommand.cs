namespace Bastion.Daemon.Vnc;

public enum VncCommandAction
{
    /// <summary>Raise the desktop now, regardless of sshd (<c>bastionctl vnc start [--for D]</c>).</summary>
    Start,

    /// <summary>Lower it and keep it down, regardless of sshd (<c>bastionctl vnc stop [--for D] [--force]</c>).</summary>
    Stop,

    /// <summary>Drop any override: back to what vnc.mode says (<c>bastionctl vnc auto</c>).</summary>
    Auto,
}

/// <summary>An admin's command. <see cref="For"/> null = until another command (or a daemon restart / a change of vnc:).</summary>
public sealed record VncCommand(VncCommandAction Action, TimeSpan? For, bool Force);

/// <summary>What became of a command: applied or not, and one line saying what happens now (shown by bastionctl).</summary>
public sealed record VncCommandOutcome(bool Applied, string Message);

/// <summary>The emergency desktop's control, implemented by the <c>vnc/desktop</c> component; thread-safe.</summary>
public interface IVncControl
{
    /// <summary>Hands the command to the component's loop; completes with the loop's answer (bounded in time).</summary>
    Task<VncCommandOutcome> ApplyAsync(VncCommand command);
}
