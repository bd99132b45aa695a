namespace Bastion.Fleet;

/// <summary>
/// A break-glass command for one node. Times are whole seconds since the epoch on the wire; the nonce makes every
/// command unique (replay cache key).
/// </summary>
public sealed record FleetCommand(string Node, string Command, IReadOnlyList<string> Args, byte[] Nonce, DateTimeOffset IssuedAt, DateTimeOffset ExpiresAt)
{
    public const string Type = "bastion-fleet-command@v1";

    /// <summary>The longest a command may stay valid: a captured command is worthless after this.</summary>
    public static readonly TimeSpan MaxLifetime = TimeSpan.FromMinutes(15);

    public const int MinNonce = 16;
    public const int MaxNonce = 64;
    public const int MaxArgs = 32;
    public const int MaxText = 1024;

    /// <summary>A new command with a random 16-byte nonce, valid from now for <paramref name="lifetime"/>.</summary>
    public static FleetCommand Create(string node, string command, IReadOnlyList<string> args, DateTimeOffset now, TimeSpan lifetime) =>
        new(node, command, args, System.Security.Cryptography.RandomNumberGenerator.GetBytes(MinNonce), now, now + lifetime);

    /// <summary>The canonical encoding (SSH wire encoding, docs/fleet-envelope.md): exactly one byte string per command.</summary>
    public byte[] Encode()
    {
        var problem = Problem();
        if (problem is not null)
        {
            throw new ArgumentException(problem);
        }
        var writer = new SshWriter().WriteText(Type).WriteText(Node).WriteText(Command).WriteUInt32((uint)Args.Count);
        foreach (var arg in Args)
        {
            writer.WriteText(arg);
        }
        return writer.WriteString(Nonce)
            .WriteUInt64((ulong)IssuedAt.ToUnixTimeSeconds())
            .WriteUInt64((ulong)ExpiresAt.ToUnixTimeSeconds())
            .ToArray();
    }

    /// <summary>Decodes; null when the bytes are not exactly one valid command.</summary>
    public static FleetCommand? Decode(ReadOnlyMemory<byte> bytes)
    {
        try
        {
            var reader = new SshReader(bytes);
            if (reader.ReadText() != Type)
            {
                return null;
            }
            var node = reader.ReadText();
            var command = reader.ReadText();
            var count = reader.ReadUInt32();
            if (count > MaxArgs)
            {
                return null;
            }
            var args = new string[count];
            for (var i = 0; i < count; i++)
            {
                args[i] = reader.ReadText();
            }
            var nonce = reader.ReadString().ToArray();
            var issued = FleetTime.FromWire(reader.ReadUInt64());
            var expires = FleetTime.FromWire(reader.ReadUInt64());
            reader.ExpectEnd();
            if (issued is null || expires is null)
            {
                return null;
            }
            var decoded = new FleetCommand(node, command, args, nonce, issued.Value, expires.Value);
            return decoded.Problem() is null ? decoded : null;
        }
        catch (SshFormatException)
        {
            return null;
        }
    }

    private string? Problem()
    {
        if (Node.Length == 0 || Command.Length == 0)
        {
            return "node and command are required";
        }
        if (Node.Length > MaxText || Command.Length > MaxText || Args.Count > MaxArgs || Args.Any(a => a.Length > MaxText))
        {
            return $"at most {MaxArgs} arguments of {MaxText} characters";
        }
        if (Nonce.Length is < MinNonce or > MaxNonce)
        {
            return $"the nonce is {MinNonce} to {MaxNonce} bytes";
        }
        var lifetime = ExpiresAt.ToUnixTimeSeconds() - IssuedAt.ToUnixTimeSeconds();
        if (lifetime <= 0 || lifetime > (long)MaxLifetime.TotalSeconds)
        {
            return "a command expires after it is issued and at most 15 minutes later";
        }
        return null;
    }
}

/// <summary>Whether a report is the periodic status or the reply to one command.</summary>
public enum FleetReportKind
{
    Status,
    Reply,
}

/// <summary>
/// What a node sends to the admins: its status, or its reply to a command (<see cref="InReplyTo"/> is that command's
/// nonce). The body is UTF-8 text (the daemon's status JSON or a reply line).
/// </summary>
public sealed record FleetReport(FleetReportKind Kind, string Node, byte[] InReplyTo, string Body, byte[] Nonce, DateTimeOffset IssuedAt, DateTimeOffset ExpiresAt)
{
    public const string StatusType = "bastion-fleet-status@v1";
    public const string ReplyType = "bastion-fleet-reply@v1";
    public const int MaxBody = 256 * 1024;

    public byte[] Encode()
    {
        if (Node.Length == 0 || Body.Length > MaxBody || Nonce.Length is < FleetCommand.MinNonce or > FleetCommand.MaxNonce
            || (Kind == FleetReportKind.Reply) != (InReplyTo.Length > 0) || ExpiresAt <= IssuedAt)
        {
            throw new ArgumentException("not a valid report (node, body size, nonce, reply reference, expiry)");
        }
        return new SshWriter()
            .WriteText(Kind == FleetReportKind.Status ? StatusType : ReplyType)
            .WriteText(Node)
            .WriteString(InReplyTo)
            .WriteText(Body)
            .WriteString(Nonce)
            .WriteUInt64((ulong)IssuedAt.ToUnixTimeSeconds())
            .WriteUInt64((ulong)ExpiresAt.ToUnixTimeSeconds())
            .ToArray();
    }

    public static FleetReport? Decode(ReadOnlyMemory<byte> bytes)
    {
        try
        {
            var reader = new SshReader(bytes);
            FleetReportKind? kind = reader.ReadText() switch
            {
                StatusType => FleetReportKind.Status,
                ReplyType => FleetReportKind.Reply,
                _ => null,
            };
            var node = reader.ReadText();
            var inReplyTo = reader.ReadString().ToArray();
            var body = reader.ReadText();
            var nonce = reader.ReadString().ToArray();
            var issued = FleetTime.FromWire(reader.ReadUInt64());
            var expires = FleetTime.FromWire(reader.ReadUInt64());
            reader.ExpectEnd();
            if (kind is null || issued is null || expires is null || node.Length == 0 || expires <= issued
                || nonce.Length is < FleetCommand.MinNonce or > FleetCommand.MaxNonce
                || (kind == FleetReportKind.Reply) != (inReplyTo.Length > 0))
            {
                return null;
            }
            return new FleetReport(kind.Value, node, inReplyTo, body, nonce, issued.Value, expires.Value);
        }
        catch (SshFormatException)
        {
            return null;
        }
    }
}

internal static class FleetTime
{
    /// <summary>Unix seconds from the wire; null beyond year 9999 (DateTimeOffset's range).</summary>
    public static DateTimeOffset? FromWire(ulong seconds) =>
        seconds <= 253402300799 ? DateTimeOffset.FromUnixTimeSeconds((long)seconds) : null;
}
