using System.Security.Cryptography;
using System.Text;

namespace Bastion.Ssh;

public enum KnownHostMarker { None, CertAuthority, Revoked }

/// <summary>One usable line of a known_hosts file.</summary>
public sealed record KnownHostEntry(KnownHostMarker Marker, string Patterns, string KeyType, byte[] KeyBlob, int Line)
{
    public string Fingerprint => SshFingerprint.Of(KeyBlob);
}

/// <summary>
/// An OpenSSH known_hosts file (sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT"): plain and hashed (<c>|1|salt|hash</c>) host
/// patterns, <c>[host]:port</c> for ports other than 22, wildcards <c>*</c> and <c>?</c>, negation <c>!</c>, and the
/// <c>@cert-authority</c> and <c>@revoked</c> markers. Lines it cannot read are skipped and counted, as ssh does.
/// </summary>
public sealed class KnownHosts
{
    private KnownHosts(IReadOnlyList<KnownHostEntry> entries, int skipped)
    {
        Entries = entries;
        Skipped = skipped;
    }

    public IReadOnlyList<KnownHostEntry> Entries { get; }

    /// <summary>Lines that were neither blank, comments nor valid entries.</summary>
    public int Skipped { get; }

    public static KnownHosts Parse(string text)
    {
        var entries = new List<KnownHostEntry>();
        var skipped = 0;
        var lineNumber = 0;
        foreach (var raw in text.Split('\n'))
        {
            lineNumber++;
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#'))
            {
                continue;
            }
            var parts = line.Split((char[]?)[' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            var marker = KnownHostMarker.None;
            var i = 0;
            if (parts[0].StartsWith('@'))
            {
                marker = parts[0] switch
                {
                    "@cert-authority" => KnownHostMarker.CertAuthority,
                    "@revoked" => KnownHostMarker.Revoked,
                    _ => (KnownHostMarker)(-1),
                };
                i = 1;
            }
            if ((int)marker < 0 || parts.Length < i + 3 || !TryBase64(parts[i + 2], out var blob))
            {
                skipped++;
                continue;
            }
            entries.Add(new KnownHostEntry(marker, parts[i], parts[i + 1], blob, lineNumber));
        }
        return new KnownHosts(entries, skipped);
    }

    /// <summary>The entries whose host patterns match <paramref name="host"/> on <paramref name="port"/>.</summary>
    public IEnumerable<KnownHostEntry> For(string host, int port)
    {
        var name = LookupName(host, port);
        return Entries.Where(e => Matches(e.Patterns, name));
    }

    /// <summary>How ssh names a host in known_hosts: <c>host</c> on port 22, <c>[host]:port</c> otherwise.</summary>
    public static string LookupName(string host, int port) =>
        port == 22 ? host.ToLowerInvariant() : $"[{host.ToLowerInvariant()}]:{port}";

    /// <summary>OpenSSH's match_hostname: a negated pattern that matches wins; otherwise any positive match.</summary>
    public static bool Matches(string patterns, string name)
    {
        if (patterns.StartsWith("|1|", StringComparison.Ordinal))
        {
            return HashedMatches(patterns, name);
        }
        // Not SshPatterns.MatchList: host patterns are compared lowercased, and that list's limit on a pattern's length
        // (OpenSSH's, 1023 characters) was never applied to known_hosts here. The glob itself is the shared one.
        var matched = false;
        foreach (var raw in patterns.Split(','))
        {
            var negated = raw.StartsWith('!');
            var pattern = (negated ? raw[1..] : raw).ToLowerInvariant();
            if (SshPatterns.Match(name, pattern))
            {
                if (negated)
                {
                    return false;
                }
                matched = true;
            }
        }
        return matched;
    }

    /// <summary><c>|1|base64(salt)|base64(HMAC-SHA1(salt, name))</c>, as ssh-keygen -H writes it.</summary>
    private static bool HashedMatches(string field, string name)
    {
        var parts = field.Split('|');
        if (parts.Length != 4 || !TryBase64(parts[2], out var salt) || !TryBase64(parts[3], out var hash))
        {
            return false;
        }
#pragma warning disable CA5350 // HMAC-SHA1 is what the known_hosts format uses for hashing names, not a security choice here.
        var computed = HMACSHA1.HashData(salt, Encoding.UTF8.GetBytes(name));
#pragma warning restore CA5350
        return CryptographicOperations.FixedTimeEquals(computed, hash);
    }

    private static bool TryBase64(string text, out byte[] bytes)
    {
        var buffer = new byte[text.Length];
        if (Convert.TryFromBase64String(text, buffer, out var written) && written > 0)
        {
            bytes = buffer[..written];
            return true;
        }
        bytes = [];
        return false;
    }
}
