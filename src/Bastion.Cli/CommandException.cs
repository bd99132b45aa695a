namespace Bastion.Cli;

/// <summary>
/// Ends a command with a message on stderr (prefixed <c>bastionctl: </c>) and an exit code from <see cref="ExitCodes"/>.
/// Thrown where the failure is found, so command code reads straight down; caught once, in <see cref="CliConsole.Run"/>.
/// </summary>
internal sealed class CommandException(int exitCode, string message) : Exception(message)
{
    public int ExitCode { get; } = exitCode;
}
