using System.CommandLine;

namespace Bastion.Cli;

/// <summary>
/// Commands that are part of bastionctl's shape but need what this version does not have yet.
/// They are in the help with their purpose; running them says so and exits 1, and points at a workaround where there is
/// an honest one. They accept any further words, so <c>bastionctl onion address</c> gets this message, not a usage error.
/// Each is one method, so the issue that brings the real command removes just its own.
/// </summary>
internal sealed class UnavailableCommands(CliConsole console)
{
    private static readonly string Version = CliVersion.Current;


    private Command Group(string name, string description, string message)
    {
        var command = new Command(name, description) { TreatUnmatchedTokensAsErrors = false };
        SetUnavailable(command, message);
        return command;
    }

    private void SetUnavailable(Command command, string message) =>
        command.SetAction(_ =>
        {
            console.Message(message);
            return ExitCodes.Failed;
        });
}
