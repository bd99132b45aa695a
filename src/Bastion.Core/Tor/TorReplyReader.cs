using System.Collections.Immutable;
using System.Text;

namespace Bastion.Tor;

/// <summary>
/// Turns the bytes of a control connection into replies and events. Pure: fed whatever the socket delivered, in any
/// chunking; it never trusts the peer — a line that is not <c>DDD[ -+]text</c>, an over-long line or reply, or a
/// data block that never ends is a <see cref="TorProtocolException"/>, never another exception or unbounded memory.
/// After an exception the reader is poisoned (the connection must be dropped).
/// </summary>
public sealed class TorReplyReader
{
    /// <summary>Longer than any line tor sends (router status and descriptor lines are a few hundred bytes).</summary>
    public const int MaxLineBytes = 64 * 1024;

    /// <summary>Bounds a whole reply, data blocks included (<c>GETINFO md/all</c> of a small network is far below).</summary>
    public const int MaxReplyBytes = 16 * 1024 * 1024;

    private readonly List<byte> _line = [];
    private readonly List<TorReplyLine> _lines = [];
    private StringBuilder? _data;
    private (int Status, string Text) _dataHeader;
    private long _replyBytes;
    private bool _poisoned;

    /// <summary>Feeds received bytes; returns the replies they completed, in order.</summary>
    public IReadOnlyList<TorReply> Feed(ReadOnlySpan<byte> bytes)
    {
        if (_poisoned)
        {
            throw new TorProtocolException("the control connection already sent malformed data");
        }
        List<TorReply>? done = null;
        try
        {
            foreach (var b in bytes)
            {
                if (b == (byte)'\n')
                {
                    var count = _line.Count;
                    if (count > 0 && _line[count - 1] == (byte)'\r')
                    {
                        count--;
                    }
                    var text = Encoding.Latin1.GetString(CollectionsMarshalSpan(count));
                    _line.Clear();
                    if (Line(text) is { } reply)
                    {
                        (done ??= []).Add(reply);
                    }
                    continue;
                }
                if (_line.Count >= MaxLineBytes)
                {
                    throw new TorProtocolException($"a reply line is longer than {MaxLineBytes} bytes");
                }
                _line.Add(b);
            }
        }
        catch (TorProtocolException)
        {
            _poisoned = true;
            throw;
        }
        return done ?? (IReadOnlyList<TorReply>)[];
    }

    private ReadOnlySpan<byte> CollectionsMarshalSpan(int count) =>
        System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_line)[..count];

    private TorReply? Line(string text)
    {
        _replyBytes += text.Length + 2;
        if (_replyBytes > MaxReplyBytes)
        {
            throw new TorProtocolException($"a reply is longer than {MaxReplyBytes} bytes");
        }
        if (_data is not null)
        {
            if (text == ".")
            {
                _lines.Add(new TorReplyLine(_dataHeader.Status, _dataHeader.Text, _data.ToString()));
                _data = null;
                return null;
            }
            // Dot-stuffing: a data line that starts with "." was sent with one more.
            _data.Append(text.StartsWith('.') ? text.AsSpan(1) : text.AsSpan()).Append('\n');
            return null;
        }
        if (text.Length < 4 || !char.IsAsciiDigit(text[0]) || !char.IsAsciiDigit(text[1]) || !char.IsAsciiDigit(text[2]))
        {
            throw new TorProtocolException($"not a control-protocol reply line: '{TorText.Printable(text, 80)}'");
        }
        var status = ((text[0] - '0') * 100) + ((text[1] - '0') * 10) + (text[2] - '0');
        var rest = text[4..];
        switch (text[3])
        {
            case '-':
                _lines.Add(new TorReplyLine(status, rest));
                return null;
            case '+':
                _dataHeader = (status, rest);
                _data = new StringBuilder();
                return null;
            case ' ':
                _lines.Add(new TorReplyLine(status, rest));
                var reply = new TorReply(status, [.. _lines]);
                _lines.Clear();
                _replyBytes = 0;
                return reply;
            default:
                throw new TorProtocolException($"not a control-protocol reply line (separator '{TorText.Printable(text[3].ToString(), 4)}'): '{TorText.Printable(text, 80)}'");
        }
    }
}
