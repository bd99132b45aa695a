namespace Bastion.Tor;

/// <summary>
/// Where an onion service keeps its state: <c>{stateDir}/onion/NAME/</c> (0700) holds <c>onion.key</c> (0600) and
/// <c>authorized_clients/CLIENT.auth</c> (tor's own service-side format, one <c>descriptor:x25519:KEY</c> line each,
/// written by <c>bastionctl onion client add</c> and merged with the config's <c>authorizedClients</c>).
/// </summary>
public static class OnionPaths
{
    public const string ClientFileExtension = ".auth";

    public static string ServiceDir(string stateDir, string service) => Path.Combine(stateDir, "onion", service);
    public static string KeyFile(string stateDir, string service) => Path.Combine(ServiceDir(stateDir, service), "onion.key");
    public static string ClientsDir(string stateDir, string service) => Path.Combine(ServiceDir(stateDir, service), "authorized_clients");

    /// <summary>Client names become file names: letters, digits, '.', '_' and '-', 1–64 characters, not starting with '.'.</summary>
    public static bool IsClientName(string name) =>
        name.Length is > 0 and <= 64 && name[0] != '.' && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-');
}
