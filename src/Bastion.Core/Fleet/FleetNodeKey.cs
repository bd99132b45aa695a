using System.Text;
using Bastion.IO;

namespace Bastion.Fleet;

/// <summary>What went wrong with the node key file; the message names the file and the fix, never key material.</summary>
public sealed class NodeKeyException(string message) : Exception(message);

/// <summary>
/// The node's own Ed25519 key: <c>STATEDIR/fleet/node_key</c>, an unencrypted OpenSSH private key file (0600, in a 0700
/// directory), so admins can use ssh tooling on it (<c>ssh-keygen -y -f node_key</c>). Created once on first start;
/// never replaced silently: a damaged or exposed file is an error to fix, because a new key would be a new identity.
/// </summary>
public static class FleetNodeKey
{
    public static string PathIn(string stateDir) => Path.Combine(stateDir, "fleet", "node_key");

    /// <summary>Reads the node key, creating it first when the file does not exist.</summary>
    /// <returns>The key and whether it was created now.</returns>
    public static (Ed25519PrivateKey Key, bool Created) LoadOrCreate(string stateDir, string comment)
    {
        var path = PathIn(stateDir);
        if (File.Exists(path))
        {
            return (Load(path), false);
        }
        try
        {
            AtomicFile.EnsurePrivateDirectory(Path.Combine(stateDir, "fleet"));
            using var created = Ed25519PrivateKey.Generate();
            var text = created.ToOpenSsh(comment);
            // Another bastiond (or bastionctl) may have created it meanwhile: whatever is on disk is the node's key.
            if (!File.Exists(path))
            {
                AtomicFile.Write(path, Encoding.ASCII.GetBytes(text), AtomicFile.Private);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new NodeKeyException($"{path}: cannot create the fleet node key: {e.Message} — check that the state directory is writable by bastiond");
        }
        return (Load(path), true);
    }

    /// <summary>Reads an existing node key; refuses one that others can read (as ssh does).</summary>
    public static Ed25519PrivateKey Load(string path)
    {
        try
        {
            var mode = File.GetUnixFileMode(path);
            if ((mode & (UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.OtherRead | UnixFileMode.OtherWrite)) != 0)
            {
                throw new NodeKeyException($"{path}: the fleet node key is accessible by others (mode {Convert.ToString((int)mode, 8)}) — chmod 600 {path}, and consider it exposed");
            }
            return Ed25519PrivateKey.ParseOpenSsh(File.ReadAllText(path));
        }
        catch (PrivateKeyException e)
        {
            throw new NodeKeyException($"{path}: the fleet node key is unusable: {e.Message} — restore it from a backup, or delete it to make a new node identity (then update the admins' node list)");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new NodeKeyException($"{path}: cannot read the fleet node key: {e.Message} — run as the user bastiond runs as (root)");
        }
    }

    /// <summary>The line for the admins' node list: <c>NODE ssh-ed25519 BASE64</c>.</summary>
    public static string NodeListLine(string node, SshPublicKey key) => node + " " + key;
}
