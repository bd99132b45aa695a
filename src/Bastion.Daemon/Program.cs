using Bastion.Config;
using Bastion.Daemon.Hosting;
using Bastion.Daemon.Logging;

namespace Bastion.Daemon;

/// <summary>
/// <c>bastiond [--config PATH] [--check-config] [--version] [--help]</c>.
/// Exit codes: 0 ok; 1 the config is invalid or the daemon failed; 2 usage error.
/// </summary>
internal static class Program
{
    private const string Usage = """
        usage: bastiond [--config PATH] [--check-config]
               bastiond --version | --help

        Bastion keeps an out-of-band way into this server: SSH tunnels, an onion service for sshd,
        an emergency VNC desktop behind mutual TLS. It is configured by one YAML file.

          --config PATH    the config file (default /etc/bastion/bastion.yaml)
          --check-config   validate the config, print a one-line summary or every error, and exit
                           (0 valid, 1 invalid), like sshd -t
          --version        print the version and exit
          --help           print this help and exit

        Signals: SIGHUP reloads the config (a bad one is refused and the last good one keeps running);
        SIGTERM stops every component in reverse order and exits 0.
        """;

    private static int Main(string[] args)
    {
        // From the first instruction: SIGHUP's default action would kill a daemon that has not installed its handler
        // yet. A SIGHUP that arrives before the control loop runs is kept and served once it does.
        using var sighup = SighupRelay.Install();
        // Before anything uses cryptography: OpenSSL reads its groups once, at its first use (see TlsKeyExchange).
        if (Bastion.Tls.TlsKeyExchange.Apply() is { } notApplied)
        {
            Console.Error.WriteLine($"bastiond: TLS key exchange not limited to {Bastion.Tls.TlsKeyExchange.Groups}: {notApplied}");
        }
        string? configPath = null;
        var checkOnly = false;
        for (var i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--config" or "-c" when i + 1 < args.Length:
                    configPath = args[++i];
                    if (configPath.Length == 0 || configPath.StartsWith('-'))
                    {
                        return UsageError($"--config needs a PATH, not '{configPath}'");
                    }
                    break;
                case "--check-config" or "-t":
                    checkOnly = true;
                    break;
                case "--version" or "-V":
                    Console.Out.WriteLine("bastiond " + DaemonVersion.Text);
                    return 0;
                case "--help" or "-h":
                    Console.Out.WriteLine(Usage);
                    return 0;
                case var arg when arg.StartsWith("--config=", StringComparison.Ordinal):
                    configPath = arg["--config=".Length..];
                    if (configPath.Length == 0)
                    {
                        return UsageError("--config= needs a PATH");
                    }
                    break;
                case "--config" or "-c":
                    return UsageError("--config needs a PATH");
                default:
                    return UsageError($"unknown argument '{args[i]}'");
            }
        }

        var result = ConfigLoader.LoadFile(configPath ?? ConfigLoader.DefaultPath);
        if (!result.Ok)
        {
            // Under systemd these lines go to the journal, which files a line without a prefix at priority info:
            // `journalctl -p err -u bastion` would show only "Failed to start". <3> makes each one an error.
            var prefix = LogSetup.UnderJournald ? "<3>" : "";
            foreach (var error in result.Errors)
            {
                Console.Error.WriteLine(prefix + error.ToString());
            }
            var n = result.Errors.Count;
            Console.Error.WriteLine($"{prefix}bastiond: {n} error{(n == 1 ? "" : "s")} in the config; {(checkOnly ? "it is not valid" : "not starting")}");
            return 1;
        }
        if (checkOnly)
        {
            Console.Out.WriteLine(ConfigDescription.Describe(result.Config!));
            return 0;
        }
        return DaemonHost.Run(result.Config!, sighup);
    }

    private static int UsageError(string message)
    {
        Console.Error.WriteLine($"bastiond: {message}");
        Console.Error.WriteLine("Try 'bastiond --help'.");
        return 2;
    }
}
