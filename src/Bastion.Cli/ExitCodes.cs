namespace Bastion.Cli;

/// <summary>
/// bastionctl's exit codes, a stable contract for scripts (also in <c>bastionctl --help</c> and README.md).
/// </summary>
internal static class ExitCodes
{
    /// <summary>The command did what was asked.</summary>
    public const int Ok = 0;

    /// <summary>The command failed: the daemon refused a reload, a wait timed out, or the command is not available yet.</summary>
    public const int Failed = 1;

    /// <summary>The command line is wrong: unknown command or option, missing argument, conflicting options.</summary>
    public const int Usage = 2;

    /// <summary>The daemon cannot be reached: no status file, unreadable status file, or its pid is not a running bastiond.</summary>
    public const int DaemonUnreachable = 3;

    /// <summary>The text appended to the root help.</summary>
    public const string HelpText =
        """
        Exit codes:
          0  ok
          1  failed (reload refused or not confirmed, command not available yet)
          2  usage error (unknown command or option, missing argument)
          3  daemon unreachable (no or unreadable status file, daemon not running)
        """;
}
