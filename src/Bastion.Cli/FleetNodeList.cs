using Bastion.Fleet;

namespace Bastion.Cli;

/// <summary>
/// The admins' node list: one <c>NODE ssh-ed25519 BASE64 [comment]</c> line per node, as <c>bastionctl fleet node-key</c>
/// prints it; blank lines and lines starting with # are ignored. Every bad line is reported with its line number.
/// </summary>
internal static class FleetNodeList
{
    public static IReadOnlyList<(string Node, SshPublicKey Key)> Load(string path)
    {
        string[] lines;
        try
        {
            lines = File.ReadAllLines(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CommandException(ExitCodes.Failed, $"cannot read the node list {path}: {e.Message}");
        }
        var nodes = new List<(string, SshPublicKey)>();
        var errors = new List<string>();
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i].Trim();
            if (line.Length == 0 || line.StartsWith('#'))
            {
                continue;
            }
            var fields = line.Split([' ', '\t'], 2, StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length < 2)
            {
                errors.Add($"{path}:{i + 1}: expected `NODE ssh-ed25519 BASE64` (the line `bastionctl fleet node-key` prints on the node)");
                continue;
            }
            try
            {
                var key = SshPublicKey.ParseText(fields[1]);
                if (key.Kind != SshKeyKind.Ed25519)
                {
                    errors.Add($"{path}:{i + 1}: node keys are ssh-ed25519, not {key.Type}");
                }
                else if (nodes.Any(n => n.Item1 == fields[0]))
                {
                    errors.Add($"{path}:{i + 1}: node {fields[0]} is listed twice");
                }
                else
                {
                    nodes.Add((fields[0], key));
                }
            }
            catch (SshFormatException e)
            {
                errors.Add($"{path}:{i + 1}: not a valid public key ({e.Message})");
            }
        }
        if (errors.Count > 0)
        {
            throw new CommandException(ExitCodes.Failed, string.Join(Environment.NewLine, errors));
        }
        if (nodes.Count == 0)
        {
            throw new CommandException(ExitCodes.Failed, $"{path} lists no node: add one `NODE ssh-ed25519 BASE64` line per node (bastionctl fleet node-key prints it on the node)");
        }
        return nodes;
    }
}
