namespace Bastion.Tls;

/// <summary>
/// Identifies a version of a file cheaply: size, modification time and creation time (.NET has no inode API; a new file
/// renamed over the old one — how the CA writes — has a new birth time, and an in-place edit a new mtime).
/// One stat per check, cheap enough for every handshake.
/// </summary>
public readonly record struct FileStamp(long Size, DateTime Modified, DateTime Created)
{
    public static FileStamp? Of(string path)
    {
        try
        {
            var info = new FileInfo(path);
            return info.Exists ? new FileStamp(info.Length, info.LastWriteTimeUtc, info.CreationTimeUtc) : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
