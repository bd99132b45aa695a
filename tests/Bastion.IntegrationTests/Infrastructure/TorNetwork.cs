using System.Globalization;

namespace Bastion.IntegrationTests.Infrastructure;

/// <summary>
/// The private Tor network on loopback (scripts/tor-network.sh, recipe in the shared notes): four directory
/// authorities that are also the relays, started once for every test in the <see cref="TorNetworkDefinition"/>,
/// waited for until their consensus lists all of them as Running/Valid/HSDir, then a client tor with a SocksPort.
/// Every tor has TestingTorNetwork 1 with DirAuthority lines on 127.0.0.1 only. All of them are killed on dispose.
/// Reuse: <see cref="ExtraConfig"/> joins another tor (bastiond's managed tor) to this network;
/// <see cref="SocksPort"/> is the client tor's.
/// </summary>
public sealed class TorNetwork : IAsyncLifetime
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromMinutes(3);
    private readonly string _root = System.IO.Directory.CreateTempSubdirectory("tornet-").FullName;

    public string Directory => Path.Combine(_root, "net");

    /// <summary>The client tor's SocksPort on 127.0.0.1.</summary>
    public int SocksPort { get; private set; }

    /// <summary>The torrc lines another tor needs to join this network (TestingTorNetwork 1 and the DirAuthority lines).</summary>
    public IReadOnlyList<string> ExtraConfig { get; private set; } = [];

    /// <summary>An <c>onion.tor</c> YAML block for bastiond's managed tor in this network (indented for <c>onion:</c>).</summary>
    public string TorYaml(int socksPort) =>
        $"  tor:\n    socksPort: 127.0.0.1:{socksPort.ToString(CultureInfo.InvariantCulture)}\n    extraConfig:\n"
        + string.Concat(ExtraConfig.Select(l => $"      - \"{l}\"\n"));

    /// <summary>What bastiond under test needs in its environment: its tor refuses to start unless it is private.</summary>
    public static IReadOnlyDictionary<string, string> DaemonEnvironment { get; } =
        new Dictionary<string, string> { ["BASTION_TOR_PRIVATE_NETWORK"] = "1" };

    private static string Script => Path.Combine(Binaries.RepositoryRoot, "scripts", "tor-network.sh");

    public async Task InitializeAsync()
    {
        var result = await ExternalCommand.RunAsync(Script, ["start", Directory], StartTimeout);
        if (result.TimedOut || result.ExitCode != 0)
        {
            // One more try from scratch: on a loaded 2-core machine a tor can lose a port it was given to another
            // process, or a consensus round can be missed. The first failure is kept and reported if the second fails too.
            var first = result.Describe() + "\n" + LogTail();
            await Console.Error.WriteLineAsync("TorNetwork: the private Tor network did not come up; trying once more:\n" + first);
            await ExternalCommand.RunAsync(Script, ["stop", Directory], TimeSpan.FromSeconds(30));
            if (System.IO.Directory.Exists(Directory))
            {
                System.IO.Directory.Delete(Directory, recursive: true);
            }
            result = await ExternalCommand.RunAsync(Script, ["start", Directory], StartTimeout);
            if (result.TimedOut || result.ExitCode != 0)
            {
                var description = result.Describe() + "\n" + LogTail();
                await DisposeAsync();
                throw new InvalidOperationException("the private Tor network did not come up, twice:\n" + description + "\n--- first attempt ---\n" + first);
            }
        }
        var values = Parse(result.StdOut);
        SocksPort = int.Parse(values["SOCKS_PORT"], CultureInfo.InvariantCulture);
        ExtraConfig = File.ReadAllLines(values["EXTRA_CONFIG_FILE"]).Where(l => l.Length > 0).ToList();
    }

    /// <summary>Starts one more client tor (e.g. with a ClientOnionAuthDir); returns its SocksPort. Stopped with the network.</summary>
    public async Task<int> StartClientAsync(string name, string? clientOnionAuthDir)
    {
        string[] args = clientOnionAuthDir is null ? ["client", Directory, name] : ["client", Directory, name, clientOnionAuthDir];
        var result = await ExternalCommand.RunAsync(Script, args, StartTimeout);
        if (result.TimedOut || result.ExitCode != 0)
        {
            throw new InvalidOperationException($"client tor {name} did not bootstrap:\n" + result.Describe());
        }
        return int.Parse(Parse(result.StdOut)["SOCKS_PORT"], CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// Stops the four directory authorities, which are also the network's only relays (by pid, from the network's list):
    /// every tor in the network then reaches no relay, and the directories' in-memory state (onion descriptors) is gone.
    /// Client tors keep running. A test that calls this must call <see cref="StartAuthoritiesAsync"/> before it ends.
    /// </summary>
    public async Task StopAuthoritiesAsync()
    {
        var result = await ExternalCommand.RunAsync(Script, ["stop-authorities", Directory], TimeSpan.FromSeconds(30));
        if (result.TimedOut || result.ExitCode != 0)
        {
            throw new InvalidOperationException("could not stop the authorities:\n" + result.Describe());
        }
    }

    /// <summary>Starts the authorities again (same keys and ports) and waits until their consensus is complete again.</summary>
    public async Task StartAuthoritiesAsync()
    {
        var result = await ExternalCommand.RunAsync(Script, ["start-authorities", Directory], StartTimeout);
        if (result.TimedOut || result.ExitCode != 0)
        {
            throw new InvalidOperationException("the authorities did not come back:\n" + result.Describe() + "\n" + LogTail());
        }
    }

    /// <summary>The tail of every tor's log, for assertion messages.</summary>
    public string LogTail()
    {
        var parts = new List<string>();
        if (System.IO.Directory.Exists(Directory))
        {
            foreach (var log in System.IO.Directory.GetFiles(Directory, "tor.log", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
            {
                parts.Add($"----- {log} -----\n" + string.Join('\n', File.ReadLines(log).TakeLast(15)));
            }
        }
        return string.Join('\n', parts);
    }

    private static Dictionary<string, string> Parse(string stdout) =>
        stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split('=', 2))
            .Where(p => p.Length == 2)
            .ToDictionary(p => p[0].Trim(), p => p[1].Trim());

    public async Task DisposeAsync()
    {
        // By pid, from the network's own list (the script never signals anything it did not start).
        await ExternalCommand.RunAsync(Script, ["stop", Directory], TimeSpan.FromSeconds(30));
        try
        {
            System.IO.Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

[CollectionDefinition(Name)]
public sealed class TorNetworkDefinition : ICollectionFixture<TorNetwork>
{
    public const string Name = "private Tor network";
}
