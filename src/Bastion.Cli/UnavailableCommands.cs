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


    public Command Vnc() => Group("vnc", "Emergency VNC desktop: show, raise or lower it",
        $"vnc is not available in bastionctl {Version} yet.");

    public Command Ssh()
    {
        var host = new Argument<string>("HOST[:PORT]") { Description = "The SSH server (port 22 when omitted)" };
        var hostkey = new Command("hostkey", "Print an SSH server's host key fingerprints, to pin in tunnels[].server.hostKey") { host };
        SetUnavailable(hostkey,
            $"ssh hostkey is not available in bastionctl {Version} yet. Meanwhile `ssh-keyscan -p PORT HOST | ssh-keygen -lf -`"
            + " prints the SHA256 fingerprints; check them out of band before pinning them.");
        return new Command("ssh", "SSH helpers: `ssh hostkey HOST[:PORT]` prints a server's host key fingerprints to pin") { hostkey };
    }

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
