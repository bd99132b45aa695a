namespace Bastion.Cli;

/// <summary>Where bastionctl writes: data to stdout, messages to stderr, the time it uses for "3m12s ago".</summary>
internal sealed class CliConsole(TextWriter output, TextWriter error, TimeProvider time)
{
    public const string Prefix = "bastionctl: ";

    public TextWriter Output { get; } = output;
    public TextWriter Error { get; } = error;
    public TimeProvider Time { get; } = time;

    /// <summary>A message for the admin, on stderr.</summary>
    public void Message(string message) => Error.WriteLine(Prefix + message);

    /// <summary>Runs a command body; a <see cref="CommandException"/> becomes its message and exit code.</summary>
    public int Run(Func<int> command)
    {
        try
        {
            return command();
        }
        catch (CommandException e)
        {
            Message(e.Message);
            return e.ExitCode;
        }
        finally
        {
            Output.Flush();
            Error.Flush();
        }
    }

    /// <summary>
    /// How wide to wrap long text: <c>COLUMNS</c> when set, else the terminal width, else null (not a terminal: let lines run,
    /// so pipes and logs keep each row on one line).
    /// </summary>
    public static int? TerminalWidth()
    {
        if (int.TryParse(Environment.GetEnvironmentVariable("COLUMNS"), out var columns) && columns > 0)
        {
            return columns;
        }
        if (Console.IsOutputRedirected)
        {
            return null;
        }
        try
        {
            return Console.WindowWidth > 0 ? Console.WindowWidth : null;
        }
        catch (IOException)
        {
            return null;
        }
    }
}
