using System.Text;
using Bastion.IO;

namespace Bastion.Pki;

/// <summary>
/// How the CA writes files: atomically (<see cref="AtomicFile"/>), so a reader (the daemon re-reading the CRL on the next
/// handshake) sees either the old or the new file, never half of one. Private keys are created 0600 before any byte is written.
/// </summary>
public static class PkiFiles
{
    public static void WritePublic(string path, string text) => AtomicFile.Write(path, Encoding.ASCII.GetBytes(text), AtomicFile.Public);

    public static void WritePrivate(string path, string text) => AtomicFile.Write(path, Encoding.ASCII.GetBytes(text), AtomicFile.Private);

    /// <summary>Creates the directory (0700) if missing.</summary>
    public static void EnsurePrivateDirectory(string dir) => AtomicFile.EnsurePrivateDirectory(dir);
}
