using System.Globalization;
using Bastion.Config;
using Bastion.Ssh;

namespace Bastion.Fleet;

/// <summary>One line of an allowed_signers file (ssh-keygen(1) "ALLOWED SIGNERS").</summary>
/// <remarks>
/// Principals are the comma-separated patterns as written; Namespaces is the <c>namespaces="..."</c> pattern list, or
/// null when the line allows every namespace; the validity times are compared in whole seconds, as OpenSSH does.
/// </remarks>
public sealed record AllowedSigner(
    string Principals,
    SshPublicKey Key,
    bool CertificateAuthority,
    string? Namespaces,
    DateTimeOffset? ValidAfter,
    DateTimeOffset? ValidBefore,
    int Line);

/// <summary>Why a signature was accepted or refused against allowed_signers. Words are made at the edge.</summary>
public enum SignerOutcome
{
    Accepted,
    /// <summary>The signature itself failed (see <see cref="SignerVerdict.Check"/>).</summary>
    BadSignature,
    /// <summary>No line lists the key (for the principal, when one was given).</summary>
    UnknownSigner,
    /// <summary>The key is listed, but not for this namespace.</summary>
    NamespaceNotAllowed,
    /// <summary>The key is listed, but its valid-after is in the future.</summary>
    NotYetValid,
    /// <summary>The key is listed, but its valid-before has passed.</summary>
    Expired,
    /// <summary>
    /// Signed with a certificate from a listed CA that does not authorise this use: not a user certificate, no
    /// principal list, or the principal is not in it.
    /// </summary>
    CertificateNotAuthorized,
}

/// <summary>The verdict, with the signer's fingerprint (for a certificate: its key's, as ssh-keygen prints it) for the SECURITY log line.</summary>
public sealed record SignerVerdict(SignerOutcome Outcome, SshSignatureCheck Check, string Fingerprint, string? Principals, int Line)
{
    public bool Accepted => Outcome == SignerOutcome.Accepted;
}

/// <summary>
/// An OpenSSH allowed_signers file, and verification "as <c>ssh-keygen -Y verify</c> would": the signature is checked
/// first, then the first line that lists the signing key (and the principal, when given) and whose namespaces and
/// validity admit it accepts. Unlike ssh-keygen, which stops at a broken line only when it reaches one for the
/// principal, a file with any broken line is refused as a whole when loaded: a typo must not silently disable an admin.
/// </summary>
public sealed class AllowedSigners
{
    /// <summary>A generous bound: thousands of admins fit; a runaway file does not cost unbounded memory.</summary>
    public const int MaxFileSize = 1024 * 1024;

    private AllowedSigners(IReadOnlyList<AllowedSigner> entries) => Entries = entries;

    public IReadOnlyList<AllowedSigner> Entries { get; }

    /// <summary>Parses the text; every error names <paramref name="file"/>:line:column and the fix. Empty errors = success.</summary>
    public static (AllowedSigners? Signers, IReadOnlyList<ConfigError> Errors) Parse(string text, string file)
    {
        var entries = new List<AllowedSigner>();
        var errors = new List<ConfigError>();
        var lines = text.Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            var entry = AllowedSignerLine.Parse(lines[i].TrimEnd('\r'), file, i + 1, errors);
            if (entry is not null)
            {
                entries.Add(entry);
            }
        }
        return errors.Count == 0 ? (new AllowedSigners(entries), errors) : (null, errors);
    }

    /// <summary>Reads and parses the file (bounded to <see cref="MaxFileSize"/>).</summary>
    public static (AllowedSigners? Signers, IReadOnlyList<ConfigError> Errors) Load(string path)
    {
        try
        {
            var info = new FileInfo(path);
            if (info.Exists && info.Length > MaxFileSize)
            {
                return (null, [new ConfigError(path, 0, 0, "", $"larger than {MaxFileSize / 1024} KiB", "is this really an allowed_signers file?")]);
            }
            return Parse(File.ReadAllText(path), path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return (null, [new ConfigError(path, 0, 0, "", "cannot be read: " + e.Message, "check the path and that bastiond may read it")]);
        }
    }

    /// <summary><c>ssh-keygen -Y verify -I principal -n ns</c> at <paramref name="now"/>.</summary>
    public SignerVerdict Verify(SshSignature signature, ReadOnlySpan<byte> message, string principal, string ns, DateTimeOffset now)
        => Judge(signature, message, principal, ns, now);

    /// <summary>
    /// <c>ssh-keygen -Y find-principals</c> followed by <c>-Y verify</c> with what it found: accepted when any line lists
    /// the key and admits the namespace and time. The verdict's <see cref="SignerVerdict.Principals"/> is that line's list.
    /// </summary>
    public SignerVerdict VerifyAnyPrincipal(SshSignature signature, ReadOnlySpan<byte> message, string ns, DateTimeOffset now)
        => Judge(signature, message, null, ns, now);

    /// <summary>The ssh-ed25519 keys of the plain (non-CA) lines: the admins a node encrypts its status and replies to.</summary>
    public IReadOnlyList<SshPublicKey> Ed25519Keys() =>
        [.. Entries.Where(e => !e.CertificateAuthority && e.Key.Kind == SshKeyKind.Ed25519).Select(e => e.Key).Distinct()];

    private SignerVerdict Judge(SshSignature signature, ReadOnlySpan<byte> message, string? principal, string ns, DateTimeOffset now)
    {
        var fingerprint = signature.PublicKey.Fingerprint;
        var check = signature.Check(message, ns);
        if (check != SshSignatureCheck.Valid)
        {
            return new SignerVerdict(SignerOutcome.BadSignature, check, fingerprint, null, 0);
        }
        var certificate = signature.PublicKey.Certificate;
        var seconds = now.ToUnixTimeSeconds();
        SignerVerdict? firstRefusal = null;
        foreach (var entry in Entries)
        {
            if (principal is not null && SshPatterns.MatchList(principal, entry.Principals) != SshPatterns.ListMatch.Match)
            {
                continue;
            }
            string? principals = entry.Principals;
            SignerOutcome? certificateRefusal = null;
            if (certificate is null)
            {
                if (entry.CertificateAuthority || !entry.Key.Equals(signature.PublicKey))
                {
                    continue;
                }
            }
            else
            {
                if (!entry.CertificateAuthority || !entry.Key.Equals(certificate.SignatureKey))
                {
                    continue;
                }
                (certificateRefusal, principals) = CheckCertificate(certificate, principal, entry.Principals, seconds);
            }
            var refusal = certificateRefusal ??
                (entry.Namespaces is not null && SshPatterns.MatchList(ns, entry.Namespaces) != SshPatterns.ListMatch.Match ? SignerOutcome.NamespaceNotAllowed
                : entry.ValidAfter is { } after && seconds < after.ToUnixTimeSeconds() ? SignerOutcome.NotYetValid
                : entry.ValidBefore is { } before && seconds > before.ToUnixTimeSeconds() ? SignerOutcome.Expired
                : SignerOutcome.Accepted);
            var verdict = new SignerVerdict(refusal, check, fingerprint, principals, entry.Line);
            if (refusal == SignerOutcome.Accepted)
            {
                return verdict;
            }
            firstRefusal ??= verdict;
        }
        return firstRefusal ?? new SignerVerdict(SignerOutcome.UnknownSigner, check, fingerprint, null, 0);
    }

    /// <summary>
    /// OpenSSH's sshkey_cert_check_authority for a signature (user certificate, valid at the time — valid-before is
    /// exclusive — and a principal list), then: with a principal, it must be one of the certificate's principals exactly;
    /// without one (find-principals), the certificate's principals that the line's patterns match are the signer's.
    /// </summary>
    private static (SignerOutcome? Refusal, string? Principals) CheckCertificate(SshCertificate certificate, string? principal, string linePatterns, long seconds)
    {
        var now = (ulong)Math.Max(0, seconds);
        if (certificate.Type != SshCertificate.UserCertificate || certificate.Principals.Count == 0)
        {
            return (SignerOutcome.CertificateNotAuthorized, null);
        }
        if (now < certificate.ValidAfter)
        {
            return (SignerOutcome.NotYetValid, null);
        }
        if (now >= certificate.ValidBefore)
        {
            return (SignerOutcome.Expired, null);
        }
        if (principal is not null)
        {
            return certificate.Principals.Contains(principal, StringComparer.Ordinal)
                ? (null, principal)
                : (SignerOutcome.CertificateNotAuthorized, null);
        }
        var patterns = linePatterns.Split(',');
        var matched = certificate.Principals.Where(p => patterns.Any(pattern => SshPatterns.Match(p, pattern))).ToList();
        return matched.Count > 0 ? (null, string.Join(',', matched)) : (SignerOutcome.CertificateNotAuthorized, null);
    }
}

/// <summary>The grammar of one allowed_signers line: <c>principals [options] keytype base64 [comment]</c>.</summary>
internal static class AllowedSignerLine
{
    public static AllowedSigner? Parse(string line, string file, int lineNumber, List<ConfigError> errors)
    {
        var pos = SkipSpace(line, 0);
        if (pos == line.Length || line[pos] == '#')
        {
            return null;
        }
        void Error(int at, string problem, string fix) => errors.Add(new ConfigError(file, lineNumber, at + 1, "", problem, fix));

        // Principals: one word, or a double-quoted string (as OpenSSH's strdelimw).
        string principals;
        var principalsAt = pos;
        if (line[pos] == '"')
        {
            var close = line.IndexOf('"', pos + 1);
            if (close < 0)
            {
                Error(pos, "the quoted principals have no closing quote", "close the quote");
                return null;
            }
            principals = line[(pos + 1)..close];
            pos = close + 1;
        }
        else
        {
            var end = EndOfWord(line, pos);
            principals = line[pos..end];
            pos = end;
        }
        pos = SkipSpace(line, pos);
        if (principals.Length == 0 || pos == line.Length)
        {
            Error(principalsAt, "a line needs principals and a public key", "write `PRINCIPALS [OPTIONS] KEYTYPE BASE64`, e.g. `alice@example.org ssh-ed25519 AAAA...`");
            return null;
        }

        // A key, or options then a key: OpenSSH tries the key first.
        var options = new LineOptions();
        var key = TryKey(line, ref pos);
        if (key is null)
        {
            var optionsAt = pos;
            var optionsEnd = EndOfOptions(line, pos);
            if (!options.Parse(line[optionsAt..optionsEnd], optionsAt, Error))
            {
                return null;
            }
            pos = SkipSpace(line, optionsEnd);
            if (pos == line.Length)
            {
                Error(optionsAt, "missing public key after the options", "write the key after the options, e.g. `ssh-ed25519 AAAA...`");
                return null;
            }
            var keyAt = pos;
            key = TryKey(line, ref pos);
            if (key is null)
            {
                Error(keyAt, "not a valid public key", "copy the whole line of the admin's .pub file (`KEYTYPE BASE64`)");
                return null;
            }
        }
        return new AllowedSigner(principals, key, options.CertificateAuthority, options.Namespaces, options.ValidAfter, options.ValidBefore, lineNumber);
    }

    private static SshPublicKey? TryKey(string line, ref int pos)
    {
        var typeEnd = EndOfWord(line, pos);
        var dataAt = SkipSpace(line, typeEnd);
        var dataEnd = EndOfWord(line, dataAt);
        if (dataAt == dataEnd)
        {
            return null;
        }
        try
        {
            var key = SshPublicKey.ParseText(line[pos..typeEnd] + " " + line[dataAt..dataEnd]);
            pos = dataEnd;
            return key;
        }
        catch (SshFormatException)
        {
            return null;
        }
    }

    private static int SkipSpace(string line, int pos)
    {
        while (pos < line.Length && line[pos] is ' ' or '\t')
        {
            pos++;
        }
        return pos;
    }

    private static int EndOfWord(string line, int pos)
    {
        while (pos < line.Length && line[pos] is not (' ' or '\t'))
        {
            pos++;
        }
        return pos;
    }

    /// <summary>Options end at the first space or tab outside double quotes.</summary>
    private static int EndOfOptions(string line, int pos)
    {
        var quoted = false;
        for (; pos < line.Length; pos++)
        {
            if (line[pos] == '"')
            {
                quoted = !quoted;
            }
            else if (line[pos] == '\\' && quoted && pos + 1 < line.Length)
            {
                pos++;
            }
            else if (!quoted && line[pos] is ' ' or '\t')
            {
                break;
            }
        }
        return pos;
    }

    private sealed class LineOptions
    {
        public bool CertificateAuthority { get; private set; }
        public string? Namespaces { get; private set; }
        public DateTimeOffset? ValidAfter { get; private set; }
        public DateTimeOffset? ValidBefore { get; private set; }

        public bool Parse(string text, int offset, Action<int, string, string> error)
        {
            const string Known = "known options: cert-authority, namespaces=\"...\", valid-after=\"YYYYMMDD[HHMM[SS]][Z]\", valid-before=\"...\"";
            var pos = 0;
            while (pos < text.Length)
            {
                var at = offset + pos;
                if (Starts(text, pos, "cert-authority") && (pos + 14 == text.Length || text[pos + 14] == ','))
                {
                    CertificateAuthority = true;
                    pos += 14;
                }
                else if (Value(text, ref pos, "namespaces", at, error) is { } ns)
                {
                    if (Namespaces is not null)
                    {
                        error(at, "namespaces is given twice", "give one namespaces=\"a,b\"");
                        return false;
                    }
                    Namespaces = ns;
                }
                else if (Starts(text, pos, "valid-after=") || Starts(text, pos, "valid-before="))
                {
                    var after = Starts(text, pos, "valid-after=");
                    var name = after ? "valid-after" : "valid-before";
                    var value = Value(text, ref pos, name, at, error);
                    if (value is null)
                    {
                        return false;
                    }
                    if ((after ? ValidAfter : ValidBefore) is not null)
                    {
                        error(at, $"{name} is given twice", $"give one {name}");
                        return false;
                    }
                    if (ParseTime(value) is not { } time)
                    {
                        error(at + name.Length + 2, $"{name} \"{value}\" is not a time", "write YYYYMMDD, YYYYMMDDHHMM or YYYYMMDDHHMMSS, with Z for UTC (else local time)");
                        return false;
                    }
                    if (after)
                    {
                        ValidAfter = time;
                    }
                    else
                    {
                        ValidBefore = time;
                    }
                }
                else if (Starts(text, pos, "namespaces="))
                {
                    return false; // Value() reported it
                }
                else
                {
                    error(at, $"unknown option \"{text[pos..].Split(',')[0]}\"", Known);
                    return false;
                }
                if (pos == text.Length)
                {
                    break;
                }
                if (text[pos] != ',')
                {
                    error(offset + pos, $"unknown option text \"{text[pos..].Split(',')[0]}\"", "separate options with commas and quote values: " + Known);
                    return false;
                }
                pos++;
                if (pos == text.Length)
                {
                    error(offset + pos - 1, "the options end with a comma", "remove the trailing comma");
                    return false;
                }
            }
            if (ValidAfter is { } a && ValidBefore is { } b && b.ToUnixTimeSeconds() <= a.ToUnixTimeSeconds())
            {
                error(offset, "valid-before is not after valid-after", "swap or correct the two times");
                return false;
            }
            return true;
        }

        // OpenSSH compares option names case-insensitively.
        private static bool Starts(string text, int pos, string name) =>
            string.Compare(text, pos, name, 0, name.Length, StringComparison.OrdinalIgnoreCase) == 0;

        /// <summary><c>name="value"</c> (quotes required, <c>\"</c> inside); null when this is not that option or it is broken (then reported).</summary>
        private static string? Value(string text, ref int pos, string name, int at, Action<int, string, string> error)
        {
            if (!Starts(text, pos, name + "="))
            {
                return null;
            }
            var p = pos + name.Length + 1;
            if (p >= text.Length || text[p] != '"')
            {
                error(at + name.Length + 1, $"the value of {name} is not quoted", $"write {name}=\"...\"");
                return null;
            }
            var value = new System.Text.StringBuilder();
            for (p++; p < text.Length; p++)
            {
                if (text[p] == '\\' && p + 1 < text.Length && text[p + 1] == '"')
                {
                    value.Append('"');
                    p++;
                }
                else if (text[p] == '"')
                {
                    pos = p + 1;
                    return value.ToString();
                }
                else
                {
                    value.Append(text[p]);
                }
            }
            error(at, $"the value of {name} has no closing quote", "close the quote");
            return null;
        }
    }

    /// <summary>OpenSSH's parse_absolute_time: YYYYMMDD[HHMM[SS]], a Z (or UTC) suffix for UTC, local time otherwise.</summary>
    internal static DateTimeOffset? ParseTime(string text)
    {
        var utc = false;
        if (text.Length > 1 && (text.EndsWith('Z') || text.EndsWith('z')))
        {
            utc = true;
            text = text[..^1];
        }
        else if (text.Length > 3 && text.EndsWith("UTC", StringComparison.OrdinalIgnoreCase))
        {
            utc = true;
            text = text[..^3];
        }
        var format = text.Length switch { 8 => "yyyyMMdd", 12 => "yyyyMMddHHmm", 14 => "yyyyMMddHHmmss", _ => null };
        if (format is null || !text.All(char.IsAsciiDigit)
            || !DateTime.TryParseExact(text, format, CultureInfo.InvariantCulture, DateTimeStyles.None, out var time))
        {
            return null;
        }
        if (utc)
        {
            return new DateTimeOffset(time, TimeSpan.Zero);
        }
        return new DateTimeOffset(time, TimeZoneInfo.Local.GetUtcOffset(time));
    }
}
