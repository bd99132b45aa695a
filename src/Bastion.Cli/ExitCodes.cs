namespace Bastion.Cli;

/// <summary>
/// bastionctl's exit codes, a stable contract for scripts (also in <c>bastionctl --help</c> and README.md).
/// </summary>
internal static class ExitCodes
{
    /// <summary>The command did what was asked.</summary>
    public const int Ok = 0;

    /// <summary>
    /// The command failed: the daemon refused a reload, a wait timed out, no such component, not allowed by the D-Bus policy,
    /// the emergency desktop is not configured or not up (vnc probe).
    /// </summary>
    public const int Failed = 1;

    /// <summary>The command line is wrong: unknown command or option, missing argument, conflicting options, an ambiguous name.</summary>
    public const int Usage = 2;

    /// <summary>
    /// The daemon cannot be reached: not on D-Bus and no status file, unreadable status file, or its pid is not a running
    /// bastiond; for restart and vnc start|stop|auto (which need D-Bus): not on D-Bus.
    /// </summary>
    public const int DaemonUnreachable = 3;

    /// <summary>
    /// fleet status | send: the broker answered with something no honest broker sends — a message or KV entry larger than
    /// any fleet envelope, more entries or replies than were asked for, or no answer within the total time limit.
    /// Nothing it sent was believed.
    /// </summary>
    public const int BrokerMisbehaved = 4;

    /// <summary>The text appended to the root help.</summary>
    public const string HelpText =
        """
        Exit codes:
          0  ok
          1  failed (reload refused or not confirmed, no such component, not allowed, vnc not configured, vnc probe not up,
             fleet status: a node silent, missing or refused; fleet send: failed, no reply, or not confirmed)
          2  usage error (unknown command or option, missing argument, ambiguous component name)
          3  daemon unreachable (not on D-Bus and no status file, daemon not running; restart, vnc start|stop|auto: not on D-Bus;
             fleet status|send: broker unreachable)
          4  fleet status|send: the broker misbehaved (oversized message or entry, a flood of replies that are not ours, no
             answer within the time limit); nothing it sent was believed
        """;
}
