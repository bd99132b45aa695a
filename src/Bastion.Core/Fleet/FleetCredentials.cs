namespace Bastion.Fleet;

/// <summary>Which kind of broker credentials a <c>fleet.credentials</c> file holds.</summary>
public enum FleetCredentialsKind
{
    /// <summary>A NATS <c>.creds</c> file (decentralised auth): a user JWT and its nkey seed, as <c>nsc</c> writes it.</summary>
    NatsCreds,

    /// <summary>Two lines: the user name, then the password (as nats-server's <c>authorization { users = [...] }</c> checks them).</summary>
    UserPassword,
}

/// <summary>What is wrong with a credentials file's content; words are made at the edge, never holding the secret.</summary>
public enum FleetCredentialsProblem
{
    None,
    Empty,
    TooLarge,
    /// <summary>Has the JWT armour of a .creds file but not both the JWT and the nkey seed sections.</summary>
    IncompleteCreds,
    /// <summary>Neither a .creds file nor exactly two lines (user, password).</summary>
    NotTwoLines,
    /// <summary>The user line is empty or holds white space.</summary>
    BadUser,
    EmptyPassword,
}

/// <summary>
/// The broker credentials of <c>fleet.credentials</c>. The format is told by the content: a file containing
/// <c>-----BEGIN NATS USER JWT-----</c> is a NATS .creds file (JWT + nkey seed); anything else must be exactly two lines,
/// the user name and then the password (taken verbatim up to the line end, so it may hold spaces and ':'). The password
/// never leaves this object except towards the broker; <see cref="ToString"/> shows only the kind and the user.
/// </summary>
public sealed class FleetCredentials
{
    /// <summary>A credentials file is a few hundred bytes; anything much larger is not one (and is not read into memory).</summary>
    public const int MaxSize = 64 * 1024;

    private const string JwtBegin = "-----BEGIN NATS USER JWT-----";
    private const string SeedBegin = "-----BEGIN USER NKEY SEED-----";

    private FleetCredentials(FleetCredentialsKind kind, string? user, string? password)
    {
        Kind = kind;
        User = user;
        Password = password;
    }

    public FleetCredentialsKind Kind { get; }

    /// <summary>The user name of a user+password file (not a secret: it may appear in status); null for .creds.</summary>
    public string? User { get; }

    /// <summary>The password of a user+password file; null for .creds. A secret: never logged.</summary>
    public string? Password { get; }

    public override string ToString() => Kind == FleetCredentialsKind.NatsCreds ? "NATS .creds" : $"user {User} with a password";

    /// <summary>
    /// Reads at most <see cref="MaxSize"/> bytes of the file at <paramref name="path"/> and parses them (the one reader of
    /// credentials files, for bastiond and bastionctl): a larger file, or one that never ends (a FIFO, /dev/zero), is
    /// <see cref="FleetCredentialsProblem.TooLarge"/> without being read whole.
    /// </summary>
    /// <exception cref="IOException">the file cannot be read (its message names the path, never the content).</exception>
    /// <exception cref="UnauthorizedAccessException">no permission to read it.</exception>
    public static (FleetCredentials? Credentials, FleetCredentialsProblem Problem) ReadFile(string path)
    {
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, bufferSize: 1);
        var buffer = new byte[MaxSize + 1];
        var length = 0;
        int n;
        while (length < buffer.Length && (n = file.Read(buffer, length, buffer.Length - length)) > 0)
        {
            length += n;
        }
        return length > MaxSize ? (null, FleetCredentialsProblem.TooLarge) : Parse(System.Text.Encoding.UTF8.GetString(buffer, 0, length));
    }

    /// <summary>Parses the content of a credentials file.</summary>
    public static (FleetCredentials? Credentials, FleetCredentialsProblem Problem) Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.Length > MaxSize)
        {
            return (null, FleetCredentialsProblem.TooLarge);
        }
        if (text.Trim().Length == 0)
        {
            return (null, FleetCredentialsProblem.Empty);
        }
        if (text.Contains(JwtBegin, StringComparison.Ordinal))
        {
            return text.Contains(SeedBegin, StringComparison.Ordinal)
                ? (new FleetCredentials(FleetCredentialsKind.NatsCreds, null, null), FleetCredentialsProblem.None)
                : (null, FleetCredentialsProblem.IncompleteCreds);
        }
        // The newline that ends the last line is not a third line.
        var lines = (text.EndsWith('\n') ? text[..^1] : text).Split('\n');
        if (lines.Length != 2)
        {
            return (null, FleetCredentialsProblem.NotTwoLines);
        }
        var user = lines[0].TrimEnd('\r');
        var password = lines[1].TrimEnd('\r');
        if (user.Length == 0 || user.Any(char.IsWhiteSpace) || user.Any(char.IsControl))
        {
            return (null, FleetCredentialsProblem.BadUser);
        }
        if (password.Length == 0)
        {
            return (null, FleetCredentialsProblem.EmptyPassword);
        }
        return (new FleetCredentials(FleetCredentialsKind.UserPassword, user, password), FleetCredentialsProblem.None);
    }

    /// <summary>The problem in words with the fix, naming the file (never any of its content).</summary>
    public static string Describe(FleetCredentialsProblem problem, string path) => problem switch
    {
        FleetCredentialsProblem.Empty => $"{path} is empty — write the user name on the first line and the password on the second, or use a NATS .creds file",
        FleetCredentialsProblem.TooLarge => $"{path} is larger than {MaxSize / 1024} KiB, so it is not a credentials file — point fleet.credentials at the right file",
        FleetCredentialsProblem.IncompleteCreds => $"{path} looks like a NATS .creds file but lacks the user JWT or the nkey seed section — regenerate it (nsc generate creds)",
        FleetCredentialsProblem.NotTwoLines => $"{path} is neither a NATS .creds file nor two lines (user name, then password) — rewrite it as exactly those two lines",
        FleetCredentialsProblem.BadUser => $"{path}: the first line (the user name) is empty or holds spaces — write the user name alone on the first line",
        FleetCredentialsProblem.EmptyPassword => $"{path}: the second line (the password) is empty — write the password on the second line",
        _ => $"{path} is fine",
    };
}
