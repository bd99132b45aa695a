using System.Globalization;
using Bastion.Fleet;
using Bastion.IntegrationTests.Cli;
using Bastion.IntegrationTests.Infrastructure;
using Bastion.Status;
using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.KeyValueStore;
using Xunit.Abstractions;

namespace Bastion.IntegrationTests.Fleet;

/// <summary>An admin's ssh-ed25519 key pair made by ssh-keygen, as the admin has it in ~/.ssh.</summary>
internal sealed class AdminKey
{
    private AdminKey(string privatePath, string publicLine)
    {
        PrivatePath = privatePath;
        PublicLine = publicLine;
    }

    public string PrivatePath { get; }

    /// <summary><c>ssh-ed25519 BASE64 comment</c>.</summary>
    public string PublicLine { get; }

    public Ed25519PrivateKey Load() => Ed25519PrivateKey.ParseOpenSsh(File.ReadAllText(PrivatePath));

    public static async Task<AdminKey> CreateAsync(TempRoot root, string name)
    {
        var path = root.File(name);
        var made = await ExternalCommand.RunAsync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", name, "-f", path], TimeSpan.FromSeconds(30));
        Assert.True(made.ExitCode == 0, made.Describe());
        return new AdminKey(path, File.ReadAllText(path + ".pub").Trim());
    }
}

/// <summary>
/// One bastiond in a fleet on a real broker: its fleet section (node web1, the broker's URL, an allowed_signers file
/// listing <see cref="Admin"/>), a check with a recognisable name so tests can look for it in plaintext, and the admin's
/// view of the broker's status bucket.
/// </summary>
internal sealed class FleetNode : IAsyncDisposable
{
    public const string Node = "web1";

    /// <summary>A component name that appears in the status plaintext and must never appear on the broker.</summary>
    public const string CheckName = "zebra-sshd-probe";

    /// <summary>The subject of the command stream the node reads its commands from.</summary>
    public const string CommandSubject = "bastion.fleet.cmd." + Node;

    /// <summary>How long the helpers wait for the link, the broker or a restart on a loaded machine.</summary>
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    private FleetNode(BastiondProcess daemon, AdminKey admin, NatsServer broker)
    {
        Daemon = daemon;
        Admin = admin;
        Broker = broker;
    }

    public BastiondProcess Daemon { get; }
    public AdminKey Admin { get; }
    public NatsServer Broker { get; }

    /// <summary>The admins' node list (<c>NODE PUBLICKEY</c>, as bastionctl fleet node-key prints it), once the daemon runs.</summary>
    public string NodesFile { get; private set; } = "";

    public SshPublicKey NodeKey { get; private set; } = null!;

    /// <summary>The config body (without paths:) the daemon was started with, for a test that reloads a changed one.</summary>
    public string ConfigBody { get; private set; } = "";

    /// <summary>The fleet section for node web1 on <paramref name="broker"/>, with an allowed_signers file listing <paramref name="admin"/>.</summary>
    public static string FleetSection(TempRoot root, NatsServer broker, AdminKey admin, string statusInterval = "2s", string extra = "", string? url = null)
    {
        var signers = root.Write("allowed_signers", $"alice@example.org {admin.PublicLine}\n");
        return $"fleet:\n  node: {Node}\n  servers: [ \"{url ?? broker.Url}\" ]\n  allowedSigners: {signers}\n  statusInterval: {statusInterval}\n{extra}";
    }

    /// <param name="fleetExtra">More lines for the fleet section (indented 2), e.g. credentials or ca.</param>
    /// <param name="url">The server URL in the config (default: the broker's nats:// URL).</param>
    public static async Task<FleetNode> StartAsync(ITestOutputHelper output, NatsServer broker, string statusInterval = "2s", string fleetExtra = "", string? url = null)
    {
        var daemon = new BastiondProcess(output, "");
        try
        {
            var admin = await AdminKey.CreateAsync(daemon.Root, "alice_ed25519");
            var body =
                "supervision:\n  backoff:\n    initial: 200ms\n    max: 1s\n    resetAfter: 5s\n" +
                $"checks:\n  - name: {CheckName}\n    endpoint: 127.0.0.1:{FreePort.Pick()}\n    interval: 1s\n    timeout: 800ms\n    failures: 2\n" +
                FleetSection(daemon.Root, broker, admin, statusInterval, fleetExtra, url);
            daemon.WriteConfig(body);
            var node = new FleetNode(daemon, admin, broker) { ConfigBody = body };
            await daemon.StartAndWaitReadyAsync();
            await node.ReadNodeKeyAsync();
            return node;
        }
        catch
        {
            await daemon.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// A node whose link to <paramref name="broker"/> is Running, with a status interval of 10 minutes: it puts its status
    /// once at start and not again during a test, so it never overwrites what the test puts or forges in the bucket.
    /// </summary>
    public static async Task<FleetNode> StartRunningAsync(ITestOutputHelper output, NatsServer broker)
    {
        var node = await StartAsync(output, broker, statusInterval: "10m");
        try
        {
            await node.Daemon.WaitForComponentAsync("nats", "Running", Patience);
            return node;
        }
        catch
        {
            await node.DisposeAsync();
            throw;
        }
    }

    /// <summary>SIGTERM, and a clean exit (code 0): the node is down, its commands wait in the stream.</summary>
    public async Task StopAsync()
    {
        Daemon.Signal(15);
        Assert.Equal(0, await Daemon.WaitForExitAsync(BastiondProcess.Patience));
    }

    /// <summary>Starts the stopped (or killed) daemon again and waits until the new process's link is Running.</summary>
    public async Task StartAgainAsync()
    {
        Daemon.Start();
        await Daemon.WaitForStatusAsync(s => s.Daemon.Pid == Daemon.Pid && s.Components.Single(c => c.Name == "nats").State == "Running", "the node back on the broker", Patience);
    }

    /// <summary>A restart of the node's check addressed to <paramref name="node"/>, valid for 5 minutes from <paramref name="now"/>.</summary>
    public static FleetCommand RestartCheck(string node = Node, DateTimeOffset? now = null) =>
        FleetCommand.Create(node, "restart", ["check/" + CheckName], now ?? DateTimeOffset.UtcNow, TimeSpan.FromMinutes(5));

    /// <summary>
    /// Publishes raw bytes into the command stream on this node's subject, as a hostile broker (or anyone with rights on
    /// it) can; the stream must store them.
    /// </summary>
    public static async Task PublishRawAsync(NatsConnection nats, byte[] payload) =>
        (await new NatsJSContext(nats).PublishAsync(CommandSubject, payload).AsTask().WaitAsync(Patience)).EnsureSuccess();

    /// <summary>Waits until the link's status counts exactly <paramref name="count"/> refused commands.</summary>
    public Task<StatusSnapshot> WaitForCommandsRefusedAsync(int count) =>
        Daemon.WaitForStatusAsync(s => s.Components.Single(c => c.Name == "nats").Details.GetValueOrDefault("commandsRefused") == count.ToString(CultureInfo.InvariantCulture),
            $"{count} commands refused and counted", Patience);

    /// <summary>A fleet node around a daemon started elsewhere (e.g. with an emergency desktop) whose config holds <see cref="FleetSection"/>.</summary>
    public static async Task<FleetNode> AttachAsync(BastiondProcess daemon, AdminKey admin, NatsServer broker)
    {
        var node = new FleetNode(daemon, admin, broker);
        await node.ReadNodeKeyAsync();
        return node;
    }

    /// <summary>The admins' node list, as <c>bastionctl fleet node-key</c> prints it.</summary>
    private async Task ReadNodeKeyAsync()
    {
        var printed = await Bastionctl.RunAsync("--config", Daemon.ConfigPath, "fleet", "node-key");
        Assert.True(printed.ExitCode == 0, printed.ToString());
        NodesFile = Daemon.Root.Write("nodes", printed.Stdout);
        NodeKey = SshPublicKey.ParseText(printed.Stdout.Trim().Split(' ', 2)[1]);
    }

    /// <summary><c>bastionctl fleet send web1 -- COMMAND…</c> signed with <see cref="Admin"/>'s key.</summary>
    public Task<BastionctlRun> SendAsync(params string[] command) =>
        Bastionctl.RunAsync(["fleet", "send", "--servers", Broker.Url, "--nodes", NodesFile, "--key", Admin.PrivatePath, Node, "--", .. command]);

    /// <summary>Waits for the node's entry in the status bucket whose revision is above <paramref name="after"/>; returns the raw value.</summary>
    public async Task<(byte[] Value, ulong Revision)> WaitForStatusEntryAsync(ulong after = 0, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(60));
        var last = "no attempt";
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                await using var nats = new NatsConnection(new NatsOpts { Url = Broker.Url });
                var kv = new NatsKVContext(new NatsJSContext(nats));
                var store = await kv.GetStoreAsync("bastion-fleet-status").AsTask().WaitAsync(TimeSpan.FromSeconds(10));
                var entry = await store.GetEntryAsync<byte[]>(Node).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
                if (entry.Revision > after && entry.Value is { } value)
                {
                    return (value, entry.Revision);
                }
                last = $"revision {entry.Revision}";
            }
            catch (Exception e) when (e is NatsException or TimeoutException or OperationCanceledException)
            {
                last = e.Message;
            }
            await Task.Delay(250);
        }
        throw new TimeoutException($"no status entry for {Node} after revision {after} in the bucket (last: {last})\ndaemon log:\n{Daemon.Log}\nbroker log:\n{Broker.Log}");
    }

    /// <summary>Puts raw bytes as the node's status, as a hostile broker (or anyone with broker credentials) could.</summary>
    public async Task PutRawAsync(byte[] value)
    {
        await using var nats = new NatsConnection(new NatsOpts { Url = Broker.Url });
        var kv = new NatsKVContext(new NatsJSContext(nats));
        var store = await kv.GetStoreAsync("bastion-fleet-status").AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        await store.PutAsync(Node, value).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
    }

    public async ValueTask DisposeAsync() => await Daemon.DisposeAsync();
}
