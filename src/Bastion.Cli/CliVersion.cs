using System.CommandLine;
using System.CommandLine.Invocation;
using System.Reflection;

namespace Bastion.Cli;

/// <summary><c>bastionctl --version</c>: <c>bastionctl 0.1.0</c>, the informational version without its <c>+commit</c> suffix.</summary>
internal sealed class CliVersion : SynchronousCommandLineAction
{
    public static string Current { get; } = Read();

    public override int Invoke(ParseResult parseResult)
    {
        parseResult.InvocationConfiguration.Output.WriteLine("bastionctl " + Current);
        return ExitCodes.Ok;
    }

    private static string Read()
    {
        var version = typeof(CliVersion).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
            ?? typeof(CliVersion).Assembly.GetName().Version?.ToString(3)
            ?? "unknown";
        var plus = version.IndexOf('+', StringComparison.Ordinal);
        return plus < 0 ? version : version[..plus];
    }
}
