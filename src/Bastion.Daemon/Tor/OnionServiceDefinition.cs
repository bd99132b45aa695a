using Bastion.Config;
using Bastion.Tor;

namespace Bastion.Daemon.Tor;

/// <summary>
/// What an onion service component is built from: its config, the clients authorized by files in its state directory
/// (read when the plan is built, so a reload that finds a new or removed file restarts the service with the new list —
/// DEL_ONION + ADD_ONION with the same key), and where its state lives. Compared by value for reload diffs.
/// </summary>
internal sealed record OnionServiceDefinition(
    OnionServiceConfig Service,
    string StateDir,
    EquatableArray<OnionClientConfig> FileClients,
    string? ClientsError)
{
    public string KeyFile => OnionPaths.KeyFile(StateDir, Service.Name);
    public string ClientsDir => OnionPaths.ClientsDir(StateDir, Service.Name);

    /// <summary>Config clients first, then file clients whose key is not already listed.</summary>
    public IReadOnlyList<OnionClientConfig> AllClients =>
        [.. Service.AuthorizedClients, .. FileClients.Where(f => !Service.AuthorizedClients.Any(c => c.PublicKey == f.PublicKey))];

    public static OnionServiceDefinition Load(OnionServiceConfig service, string stateDir)
    {
        var dir = OnionPaths.ClientsDir(stateDir, service.Name);
        var clients = new List<OnionClientConfig>();
        try
        {
            if (Directory.Exists(dir))
            {
                foreach (var file in Directory.GetFiles(dir, "*" + OnionPaths.ClientFileExtension).Order(StringComparer.Ordinal))
                {
                    var name = Path.GetFileNameWithoutExtension(file);
                    var key = OnionClientKeys.ParseServiceLine(File.ReadAllText(file), out var error);
                    if (key is null)
                    {
                        return new(service, stateDir, [], $"authorized client file {file} is not usable: {error}; fix it or remove it (bastionctl onion client remove {name})");
                    }
                    clients.Add(new OnionClientConfig(name, key));
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return new(service, stateDir, [], $"cannot read the authorized clients in {dir}: {e.Message}");
        }
        return new(service, stateDir, [.. clients], null);
    }
}
