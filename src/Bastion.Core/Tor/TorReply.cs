using System.Collections.Immutable;

namespace Bastion.Tor;

/// <summary>One line of a control-port reply: <c>250-key=value</c>, or a <c>250+key=</c> line with its data block.</summary>
public sealed record TorReplyLine(int Status, string Text, string? Data = null);

/// <summary>
/// A complete control-port reply (the lines up to the one whose separator is a space), or an asynchronous event
/// (status 650). See tor's control-spec, section 2.3 and 4.
/// </summary>
public sealed record TorReply(int Status, ImmutableArray<TorReplyLine> Lines)
{
    public bool IsOk => Status is >= 200 and < 300;
    public bool IsEvent => Status == 650;

    /// <summary>The text of the last line ("OK", or tor's error message).</summary>
    public string Message => Lines.IsEmpty ? "" : Lines[^1].Text;

    /// <summary>
    /// The value of <c>key=value</c> among the lines (<c>ServiceID=…</c>, GETINFO answers); a data block when the line
    /// was a <c>+</c> line. Null when no line has the key.
    /// </summary>
    public string? Value(string key)
    {
        foreach (var line in Lines)
        {
            if (line.Text.Length > key.Length && line.Text[key.Length] == '=' && line.Text.StartsWith(key, StringComparison.Ordinal))
            {
                return line.Data ?? line.Text[(key.Length + 1)..];
            }
        }
        return null;
    }

    /// <summary>All values of a repeated <c>key=value</c> line.</summary>
    public IEnumerable<string> Values(string key)
    {
        foreach (var line in Lines)
        {
            if (line.Text.Length > key.Length && line.Text[key.Length] == '=' && line.Text.StartsWith(key, StringComparison.Ordinal))
            {
                yield return line.Data ?? line.Text[(key.Length + 1)..];
            }
        }
    }

    /// <summary>For error messages: the status and the last line, made printable and short (a peer's words).</summary>
    public string Describe() => $"{Status} {TorText.Printable(Message, 200)}";
}

/// <summary>The control port said something that is not the control protocol: the connection cannot be trusted any more.</summary>
public sealed class TorProtocolException(string message) : Exception(message);
