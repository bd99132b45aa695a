namespace Bastion.Config;

// Checks on the files the config points at (when ConfigLoadOptions.CheckFiles). Nothing is ever read: a secret's
// metadata is all that is looked at, and other files are only opened to prove they are readable.
internal sealed partial class ConfigBinder
{
    private const UnixFileMode GroupOrOther =
        UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute |
        UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;

    /// <summary>A file that must exist: a certificate, a CA, a known_hosts file.</summary>
    private string? ExistingFile(Located? value, Func<string, string> createHint) => CheckedFile(value, createHint, secret: false);

    /// <summary>
    /// A secret (private key, password file) that must exist and be private to its owner: like OpenSSH's
    /// StrictModes, a key that group or others can read or write is refused, not just warned about.
    /// </summary>
    private string? PrivateFile(Located? value, Func<string, string> createHint) => CheckedFile(value, createHint, secret: true);

    private string? CheckedFile(Located? value, Func<string, string> createHint, bool secret)
    {
        if (value is not { } at || FilePath(at) is not { } path)
        {
            return null;
        }
        if (options.CheckFiles)
        {
            CheckFile(at, path, createHint, secret);
        }
        return path;
    }

    private void CheckFile(Located at, string path, Func<string, string> createHint, bool secret)
    {
        try
        {
            if (Directory.Exists(path))
            {
                errors.Add(at, $"{path} is a directory, not a file", "point it at the file itself");
                return;
            }
            if (!File.Exists(path))
            {
                errors.Add(at, $"{path} does not exist", createHint(path));
                return;
            }
            // Special files (FIFOs, devices, sockets) report length 0, like an empty file: neither is usable.
            // FileInfo describes a symlink itself, so look at what it finally points to.
            var target = File.ResolveLinkTarget(path, returnFinalTarget: true) ?? new FileInfo(path);
            if (target is not FileInfo { Length: > 0 })
            {
                errors.Add(at, $"{path} is empty or not a regular file", createHint(path));
                return;
            }
            if (!secret)
            {
                // Opening is safe here (a regular, non-empty file cannot block) and reads nothing.
                File.OpenHandle(path, FileMode.Open, FileAccess.Read).Dispose();
            }
            else
            {
                var mode = File.GetUnixFileMode(path);
                if ((mode & GroupOrOther) != 0)
                {
                    var octal = Convert.ToString((int)mode, 8).PadLeft(4, '0');
                    errors.Add(at, $"{path} is accessible by group or others (mode {octal}); a secret must be private",
                        $"run chmod 600 {path}");
                }
            }
        }
        catch (UnauthorizedAccessException)
        {
            errors.Add(at, $"{path} cannot be read: permission denied",
                secret ? "check that the daemon's user owns it and can reach its directory" : $"make it readable by the daemon, e.g. chmod 644 {path}");
        }
        catch (IOException e)
        {
            errors.Add(at, $"{path} cannot be inspected: {e.Message}", "check the path and the permissions of its directories");
        }
    }
}
