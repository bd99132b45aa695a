using System.CommandLine;
using Bastion.Tor;

namespace Bastion.Cli;

// bastionctl onion client add|list|remove
internal sealed partial class OnionCommand
{
    private const UnixFileMode PrivateFile = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode PrivateDir = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    private Command CreateClient()
    {
        var client = new Command("client", "v3 client authorization: only holders of an authorized key can reach the service");

        var name = new Argument<string>("NAME") { Description = "The client's name (letters, digits, '.', '_', '-'), e.g. alice-laptop" };
        var service = new Option<string>("--service") { Description = "The onion service [default: the only one]", HelpName = "NAME" };
        var add = new Command("add", "Create a key pair for a client, authorize its public half, print the line for the client's ClientOnionAuthDir, and reload") { name, service };
        add.SetAction(parseResult => console.Run(() => Add(parseResult, parseResult.GetValue(name)!, parseResult.GetValue(service))));

        var listService = new Option<string>("--service") { Description = "The onion service [default: the only one]", HelpName = "NAME" };
        var list = new Command("list", "List the clients authorized with `onion client add` and in the config") { listService };
        list.SetAction(parseResult => console.Run(() => List(parseResult, parseResult.GetValue(listService))));

        var removeName = new Argument<string>("NAME") { Description = "The client to remove" };
        var removeService = new Option<string>("--service") { Description = "The onion service [default: the only one]", HelpName = "NAME" };
        var force = new Option<bool>("--force")
        {
            Description = "Also remove the last authorized client, which turns client authorization off: the onion becomes reachable by anyone who knows its address",
        };
        var remove = new Command("remove", "Revoke a client added with `onion client add`, reload, and cut open sessions over the onion") { removeName, removeService, force };
        remove.SetAction(parseResult => console.Run(() => Remove(parseResult, parseResult.GetValue(removeName)!, parseResult.GetValue(removeService), parseResult.GetValue(force))));

        client.Subcommands.Add(add);
        client.Subcommands.Add(list);
        client.Subcommands.Add(remove);
        return client;
    }

    private int Add(ParseResult parseResult, string name, string? serviceName)
    {
        RequireClientName(name);
        var runtimeDir = RuntimeDirectory.Resolve(parseResult, globalOptions);
        var reading = DaemonStatusReader.Read(runtimeDir, console.Time);
        var service = PickService(reading, serviceName);
        var dir = ClientsDir(service);
        var address = AddressOf(service);
        var file = Path.Combine(dir, name + OnionPaths.ClientFileExtension);
        if (File.Exists(file))
        {
            throw new CommandException(ExitCodes.Failed,
                $"client '{name}' is already authorized for '{service.Name}' ({file}); remove it first (bastionctl onion client remove {name}) to give it a new key");
        }
        var pair = OnionClientKeys.Generate();
        try
        {
            Directory.CreateDirectory(dir, PrivateDir);
            using var stream = new FileStream(file, new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = PrivateFile });
            stream.Write(System.Text.Encoding.ASCII.GetBytes(pair.ServiceLine + "\n"));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CommandException(ExitCodes.Failed, $"cannot write {file}: {e.Message} (run bastionctl as root)");
        }
        // stdout: only the secret line, so `bastionctl onion client add alice > alice.auth_private` just works.
        console.Output.WriteLine(pair.ClientLine(address));
        console.Message($"authorized client '{name}' for {address} ({file}).");
        console.Message($"""
            The line above is the client's private key, stored nowhere else. On the machine you ssh from:
              1. save it as a file named {name}.auth_private in a directory only the tor there can read, e.g.
                   install -d -m 700 -o debian-tor /var/lib/tor/onion_auth
                   (paste the line) > /var/lib/tor/onion_auth/{name}.auth_private; chmod 600 it, owned by the tor user
              2. add to that tor's torrc:  ClientOnionAuthDir /var/lib/tor/onion_auth
              3. reload that tor:  systemctl reload tor   (or: kill -HUP <its pid>)
            Without it, that client gets "onion service client authorization is missing".
            """.TrimEnd());
        if (AuthorizedCount(service) == 0)
        {
            console.Message($"'{service.Name}' was public until now: from this reload on only authorized clients get in.");
        }
        console.Message(SessionsCut);
        return ReloadDaemon(runtimeDir);
    }

    private int List(ParseResult parseResult, string? serviceName)
    {
        var reading = DaemonStatusReader.Read(RuntimeDirectory.Resolve(parseResult, globalOptions), console.Time);
        var service = PickService(reading, serviceName);
        var dir = ClientsDir(service);
        var fromFiles = new List<string>();
        if (Directory.Exists(dir))
        {
            foreach (var file in Directory.GetFiles(dir, "*" + OnionPaths.ClientFileExtension).Order(StringComparer.Ordinal))
            {
                var clientName = Path.GetFileNameWithoutExtension(file);
                string? key;
                string? error;
                try
                {
                    key = OnionClientKeys.ParseServiceLine(File.ReadAllText(file), out error);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    (key, error) = (null, $"{e.Message} (run bastionctl as root)");
                }
                console.Output.WriteLine(key is null ? $"{clientName}  (unusable file {file}: {error})" : $"{clientName}  x25519:{key}  (bastionctl onion client add)");
                fromFiles.Add(clientName);
            }
        }
        var active = service.Details.GetValueOrDefault("clients") ?? "";
        foreach (var configured in active.Split(',', StringSplitOptions.RemoveEmptyEntries).Where(c => !fromFiles.Contains(c) && c != "anyone with the address"))
        {
            console.Output.WriteLine($"{configured}  (config: onion.services[].authorizedClients)");
        }
        if (active is "anyone with the address" or "" && fromFiles.Count == 0)
        {
            console.Output.WriteLine($"no authorized clients: anyone who knows the address of '{service.Name}' can connect");
        }
        return reading.IsStale ? ExitCodes.DaemonUnreachable : ExitCodes.Ok;
    }

    private int Remove(ParseResult parseResult, string name, string? serviceName, bool force)
    {
        RequireClientName(name);
        var runtimeDir = RuntimeDirectory.Resolve(parseResult, globalOptions);
        var reading = DaemonStatusReader.Read(runtimeDir, console.Time);
        var service = PickService(reading, serviceName);
        var file = Path.Combine(ClientsDir(service), name + OnionPaths.ClientFileExtension);
        if (!File.Exists(file))
        {
            throw new CommandException(ExitCodes.Failed,
                $"no client '{name}' added with `bastionctl onion client add` for '{service.Name}' (clients in the config are removed by editing the config)");
        }
        if (AuthorizedCount(service) <= 1 && !force)
        {
            // Tor has no "authorization on, nobody authorized": without a client the service is published for anyone.
            throw new CommandException(ExitCodes.Failed,
                $"'{name}' is the last authorized client of '{service.Name}': removing it turns client authorization off and makes "
                + $"{service.Details.GetValueOrDefault("address") ?? "the onion"} reachable by anyone who knows the address (sshd's own login still applies). "
                + $"Add another client first (bastionctl onion client add NAME), or run again with --force to make it public; nothing was changed");
        }
        try
        {
            File.Delete(file);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CommandException(ExitCodes.Failed, $"cannot remove {file}: {e.Message} (run bastionctl as root)");
        }
        console.Message($"removed client '{name}' from '{service.Name}'.");
        if (AuthorizedCount(service) <= 1)
        {
            console.Message($"'{service.Name}' has no authorized clients now: anyone who knows its address can connect (--force).");
        }
        console.Message(SessionsCut);
        return ReloadDaemon(runtimeDir);
    }

    private const string SessionsCut =
        "On reload bastiond re-creates the service with the new list and closes its open rendezvous circuits: open sessions over the onion are cut, authorized clients reconnect.";

    /// <summary>The authorized clients the daemon applies now (files and config), from its status; 0 = public.</summary>
    private static int AuthorizedCount(Bastion.Status.ComponentStatus service) =>
        (service.Details.GetValueOrDefault("clients") ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries)
            .Count(c => c != "anyone with the address");

    private static void RequireClientName(string name)
    {
        if (!OnionPaths.IsClientName(name))
        {
            throw new CommandException(ExitCodes.Usage, $"'{name}' is not a client name: use 1–64 letters, digits, '.', '_' or '-' (e.g. alice-laptop)");
        }
    }

    /// <summary>The daemon applies the new list on reload (the service's definition changed: DEL_ONION + ADD_ONION, same key).</summary>
    private int ReloadDaemon(string runtimeDir)
    {
        var options = new GlobalOptions();
        var root = new RootCommand();
        options.AddTo(root);
        // Its "reloaded" goes to stderr: stdout holds only the client's line, ready to redirect into a file.
        var toStderr = new CliConsole(console.Error, console.Error, console.Time);
        root.Subcommands.Add(new ReloadCommand(options, toStderr).Create());
        return root.Parse(["reload", "--runtime-dir", runtimeDir]).Invoke(new InvocationConfiguration { Output = console.Error, Error = console.Error });
    }
}
