using System.CommandLine;
using Bastion.Config;
using Bastion.Status;
using Bastion.Tor;

namespace Bastion.Cli;

/// <summary>
/// <c>bastionctl onion</c>: each onion service's address, state and a ready-to-paste ssh command, from the daemon's status.
/// <c>bastionctl onion client add|list|remove</c> (in <c>OnionCommand.Clients.cs</c>) manage v3 client authorization.
/// Exit 0 when the daemon runs (whatever the services' states); 3 when there is no running daemon.
/// </summary>
internal sealed partial class OnionCommand(GlobalOptions globalOptions, CliConsole console)
{
    private const string OnionKind = "onion";
    private const string DefaultSocks = "127.0.0.1:9050";

    public Command Create()
    {
        var socks = new Option<string>("--socks")
        {
            Description = $"The SocksPort of the tor on the machine you ssh from, for the printed command [default: {DefaultSocks}, a system tor's]",
            HelpName = "HOST:PORT",
        };
        var user = new Option<string>("--user")
        {
            Description = "The login name for the printed ssh command [default: the user running bastionctl, or SUDO_USER]",
            HelpName = "USER",
        };
        var onion = new Command("onion", "Onion services: their addresses, states and the ssh command that reaches them; `onion client` manages authorized clients")
        {
            socks,
            user,
        };
        onion.SetAction(parseResult => console.Run(() => Show(parseResult, parseResult.GetValue(socks) ?? DefaultSocks, parseResult.GetValue(user))));
        onion.Subcommands.Add(CreateClient());
        return onion;
    }

    private int Show(ParseResult parseResult, string socks, string? user)
    {
        if (!Endpoint.TryParse(socks, false, out _, out var socksError))
        {
            throw new CommandException(ExitCodes.Usage, "--socks: " + socksError);
        }
        var reading = DaemonStatusReader.Read(RuntimeDirectory.Resolve(parseResult, globalOptions), console.Time);
        var services = reading.Snapshot.Components.Where(c => c.Kind == OnionKind).ToList();
        var tor = reading.Snapshot.Components.FirstOrDefault(c => c.Kind == "tor");
        if (services.Count == 0)
        {
            console.Output.WriteLine("no onion services configured (add an onion: section to the config)");
        }
        else
        {
            if (tor is not null)
            {
                console.Output.WriteLine($"tor      {tor.State}: {tor.Reason}");
                console.Output.WriteLine();
            }
            var login = user ?? Environment.GetEnvironmentVariable("SUDO_USER") ?? Environment.UserName;
            foreach (var s in services)
            {
                var address = s.Details.GetValueOrDefault("address");
                console.Output.WriteLine($"{s.Name}");
                console.Output.WriteLine($"  address  {address ?? "(not known yet)"}");
                console.Output.WriteLine($"  state    {s.Details.GetValueOrDefault("state") ?? s.State} — {s.State}: {s.Reason}");
                if (s.Details.GetValueOrDefault("ports") is { } ports)
                {
                    console.Output.WriteLine($"  ports    {ports}");
                }
                if (s.Details.GetValueOrDefault("clients") is { } clients)
                {
                    console.Output.WriteLine($"  clients  {clients}");
                }
                if (s.Details.GetValueOrDefault("lastSelfTestOk") is { } okAt
                    && DateTimeOffset.TryParse(okAt, System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.RoundtripKind, out var okTime))
                {
                    var age = console.Time.GetUtcNow() - okTime;
                    console.Output.WriteLine($"  self-test passed {Math.Max(0, (int)age.TotalSeconds)} s ago ({okAt}; a fresh circuit each time)");
                }
                if (s.Details.GetValueOrDefault("lastSelfTestError") is { Length: > 0 } lastError)
                {
                    console.Output.WriteLine($"  last self-test error  {lastError}");
                }
                if (address is not null)
                {
                    console.Output.WriteLine($"  ssh      {SshCommand(address, SshPort(s), socks, login)}");
                }
                console.Output.WriteLine();
            }
            console.Output.WriteLine($"The ssh command goes through the tor on the machine you run it on (SocksPort {socks}; --socks changes it).");
        }
        if (reading.IsStale)
        {
            console.Message($"bastiond is not running: {reading.StaleReason}; this is the last status it wrote to {reading.Path}");
            return ExitCodes.DaemonUnreachable;
        }
        return ExitCodes.Ok;
    }

    /// <summary>The virtual port that leads to sshd: 22 when published, else the first.</summary>
    private static int SshPort(ComponentStatus service)
    {
        var ports = (service.Details.GetValueOrDefault("ports") ?? "22->").Split(',')
            .Select(p => int.TryParse(p.Split("->")[0], System.Globalization.CultureInfo.InvariantCulture, out var v) ? v : 0)
            .Where(v => v > 0).ToList();
        return ports.Contains(22) || ports.Count == 0 ? 22 : ports[0];
    }

    /// <summary>OpenSSH through a SOCKS5 proxy with netcat-openbsd (tor resolves the .onion itself: -X 5).</summary>
    internal static string SshCommand(string address, int port, string socks, string user) =>
        $"ssh -o ProxyCommand='nc -X 5 -x {socks} %h %p'{(port == 22 ? "" : $" -p {port}")} {user}@{address}";

    /// <summary>The onion component the command is about: <c>--service</c>, or the only one there is.</summary>
    private static ComponentStatus PickService(DaemonStatusReading reading, string? name)
    {
        var services = reading.Snapshot.Components.Where(c => c.Kind == OnionKind).ToList();
        if (name is not null)
        {
            return services.FirstOrDefault(c => c.Name == name) ?? throw new CommandException(ExitCodes.Failed,
                $"no onion service named '{name}' (configured: {(services.Count == 0 ? "none" : string.Join(", ", services.Select(s => s.Name)))})");
        }
        return services.Count switch
        {
            1 => services[0],
            0 => throw new CommandException(ExitCodes.Failed, "no onion services configured (add an onion: section to the config)"),
            _ => throw new CommandException(ExitCodes.Usage,
                $"there are {services.Count} onion services ({string.Join(", ", services.Select(s => s.Name))}): say which with --service NAME"),
        };
    }

    private static string ClientsDir(ComponentStatus service) =>
        service.Details.GetValueOrDefault("clientsDir") is { Length: > 0 } dir
            ? dir
            : throw new CommandException(ExitCodes.Failed,
                $"onion service '{service.Name}' has not reported its state directory yet ({service.State}: {service.Reason}); try again in a moment");

    private static string AddressOf(ComponentStatus service) =>
        service.Details.GetValueOrDefault("address") is { Length: > 0 } address && OnionAddress.IsServiceId(OnionAddress.WithoutSuffix(address))
            ? address
            : throw new CommandException(ExitCodes.Failed,
                $"onion service '{service.Name}' has no address yet ({service.State}: {service.Reason}); wait until `bastionctl onion` shows one");
}
