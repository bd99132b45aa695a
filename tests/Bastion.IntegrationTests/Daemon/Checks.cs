namespace Bastion.IntegrationTests.Daemon;

/// <summary>The <c>checks:</c> config the daemon tests use: a check watching a test sshd's banner.</summary>
internal static class Checks
{
    public static string One(string name, int port, string extra = "") => "checks:\n" + Item(name, port, extra);

    public static string Item(string name, int port, string extra = "") =>
        $"  - name: {name}\n    endpoint: 127.0.0.1:{port}\n    expect: \"SSH-2.0-\"\n    interval: 1s\n    timeout: {Timeout}\n    failures: 2\n{extra}";

    /// <summary>Generous for a loaded 2-core machine (sshd forks and re-execs before its banner); the freeze test waits it out.</summary>
    public const string Timeout = "800ms";
}
