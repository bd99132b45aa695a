using System.Globalization;
using System.Text;

namespace Bastion.Pki;

/// <summary>One issued certificate, as the index records it.</summary>
public sealed record IssuedCertificate(
    string Serial,
    CertificateRole Role,
    string Name,
    DateTimeOffset NotBefore,
    DateTimeOffset NotAfter,
    DateTimeOffset? RevokedAt,
    IReadOnlyList<string> Sans,
    string Pin)
{
    public bool IsRevoked => RevokedAt is not null;

    public string State(DateTimeOffset now) => IsRevoked ? "revoked" : now >= NotAfter ? "expired" : "valid";
}

/// <summary>
/// <c>index.tsv</c>: every certificate the CA issued, one tab-separated line each (serial, role, name, notBefore,
/// notAfter, revokedAt or -, SANs or -, SPKI pin). Text, so an admin can read it with <c>column -t</c> on a bad day.
/// </summary>
public static class PkiIndex
{
    public const string FileName = "index.tsv";
    private const string Header = "# serial\trole\tname\tnotBefore\tnotAfter\trevokedAt\tsans\tpin";

    public static List<IssuedCertificate> Read(string path)
    {
        var result = new List<IssuedCertificate>();
        if (!File.Exists(path))
        {
            return result;
        }
        var lineNumber = 0;
        foreach (var line in File.ReadAllLines(path))
        {
            lineNumber++;
            if (line.Length == 0 || line.StartsWith('#'))
            {
                continue;
            }
            var f = line.Split('\t');
            if (f.Length != 8 || !TryRole(f[1], out var role) || !TryTime(f[3], out var notBefore) || !TryTime(f[4], out var notAfter))
            {
                throw new PkiException($"{path}:{lineNumber}: not an index line (expected 8 tab-separated fields) — restore the file from a backup");
            }
            DateTimeOffset? revoked = f[5] == "-" ? null : TryTime(f[5], out var r) ? r
                : throw new PkiException($"{path}:{lineNumber}: revokedAt '{f[5]}' is not a time");
            IReadOnlyList<string> sans = f[6] == "-" ? [] : f[6].Split(',');
            result.Add(new IssuedCertificate(f[0], role, f[2], notBefore, notAfter, revoked, sans, f[7]));
        }
        return result;
    }

    public static void Write(string path, IEnumerable<IssuedCertificate> entries)
    {
        var sb = new StringBuilder(Header).Append('\n');
        foreach (var e in entries)
        {
            sb.Append(e.Serial).Append('\t')
                .Append(e.Role.Text()).Append('\t')
                .Append(e.Name).Append('\t')
                .Append(Time(e.NotBefore)).Append('\t')
                .Append(Time(e.NotAfter)).Append('\t')
                .Append(e.RevokedAt is { } r ? Time(r) : "-").Append('\t')
                .Append(e.Sans.Count == 0 ? "-" : string.Join(',', e.Sans)).Append('\t')
                .Append(e.Pin).Append('\n');
        }
        PkiFiles.WritePublic(path, sb.ToString());
    }

    public static string Time(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    private static bool TryTime(string text, out DateTimeOffset value) =>
        DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out value);

    private static bool TryRole(string text, out CertificateRole role)
    {
        role = text == "server" ? CertificateRole.Server : CertificateRole.Client;
        return text is "server" or "client";
    }
}
