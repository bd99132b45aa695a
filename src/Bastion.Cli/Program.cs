using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;
using System.CommandLine.Parsing;

namespace Bastion.Cli;

/// <summary>bastionctl: the command tree, and the one place where parse errors become exit code 2.</summary>
internal static class Program
{
    private static int Main(string[] args)
    {
        var console = new CliConsole(Console.Out, Console.Error, TimeProvider.System);
        var root = CreateCommandTree(console);
        var parseResult = root.Parse(args);
        if (parseResult.Action is ParseErrorAction)
        {
            return ReportUsageErrors(parseResult, console);
        }
        return parseResult.Invoke(new InvocationConfiguration { Output = console.Output, Error = console.Error });
    }

    internal static RootCommand CreateCommandTree(CliConsole console)
    {
        var root = new RootCommand(
            "bastionctl: ask bastiond, the out-of-band access daemon, what it is doing, and tell it what to do.");
        var globalOptions = new GlobalOptions();
        globalOptions.AddTo(root);

        var status = new StatusCommand(globalOptions, console);
        root.Subcommands.Add(status.CreateStatus());
        root.Subcommands.Add(status.CreateTunnels());
        root.Subcommands.Add(new ReloadCommand(globalOptions, console).Create());
        // One line per command group, so work on one group never touches another's line.
        root.Subcommands.Add(new RestartCommand(globalOptions, console).Create());
        root.Subcommands.Add(new OnionCommand(globalOptions, console).Create());
        root.Subcommands.Add(new VncCommand(globalOptions, console).Create());
        root.Subcommands.Add(new PkiCommand(globalOptions, console).Create());
        root.Subcommands.Add(new ConnectCommand(console).Create());
        root.Subcommands.Add(new SshHostKeyCommand(console).Create());
        var fleet = new FleetNodeKeyCommand(globalOptions, console).Create();
        fleet.Subcommands.Add(new FleetStatusCommand(console).Create());
        fleet.Subcommands.Add(new FleetSendCommand(console).Create());
        root.Subcommands.Add(fleet);

        root.Options.OfType<VersionOption>().Single().Action = new CliVersion();
        var help = root.Options.OfType<HelpOption>().Single();
        help.Action = new HelpWithExitCodes((SynchronousCommandLineAction)help.Action!);
        return root;
    }

    /// <summary>The standard help, plus the exit codes under the root command's help.</summary>
    private sealed class HelpWithExitCodes(SynchronousCommandLineAction help) : SynchronousCommandLineAction
    {
        public override bool ClearsParseErrors => help.ClearsParseErrors;

        public override int Invoke(ParseResult parseResult)
        {
            var exitCode = help.Invoke(parseResult);
            if (parseResult.CommandResult.Command is RootCommand)
            {
                parseResult.InvocationConfiguration.Output.WriteLine(ExitCodes.HelpText);
            }
            return exitCode;
        }
    }

    /// <summary>
    /// System.CommandLine would exit 1 and print the whole help; bastionctl keeps 1 for "the command failed" and answers a
    /// wrong command line with 2, its errors, and where to find the help.
    /// </summary>
    private static int ReportUsageErrors(ParseResult parseResult, CliConsole console)
    {
        foreach (var error in parseResult.Errors)
        {
            console.Message(error.Message);
        }
        var path = new List<string>();
        for (SymbolResult? result = parseResult.CommandResult; result is CommandResult command; result = result.Parent)
        {
            path.Insert(0, command.Command is RootCommand ? "bastionctl" : command.Command.Name);
        }
        console.Error.WriteLine($"Run '{string.Join(' ', path)} --help' for usage.");
        return ExitCodes.Usage;
    }
}
