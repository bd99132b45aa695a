using System.Reflection;

namespace Bastion.Daemon;

internal static class DaemonVersion
{
    /// <summary>The informational version without the +commit suffix the SDK appends.</summary>
    public static string Text { get; } =
        (typeof(DaemonVersion).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0.0.0")
        .Split('+')[0];
}
