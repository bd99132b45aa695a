using System.Buffers.Binary;
using Bastion.Tls;

namespace Bastion.Vnc;

/// <summary>Where an observed RFB handshake got to.</summary>
public enum RfbAuthOutcome
{
    /// <summary>Still in the handshake.</summary>
    Pending,

    /// <summary>SecurityResult 0: the client knew the VNC password.</summary>
    Succeeded,

    /// <summary>SecurityResult non-zero (wrong VNC password), or the server refused the security handshake.</summary>
    Failed,

    /// <summary>Not an RFB handshake this observer understands (it stops looking; the relay carries on untouched).</summary>
    Unknown,
}

/// <summary>
/// Watches the start of a relayed RFB connection (both directions, bytes as they pass) to learn whether the client passed
/// VNC authentication, so the TLS endpoint can log a wrong VNC password with the client certificate that sent it and
/// count it against the address's failure limit. Understands RFB 3.3, 3.7 and 3.8 with security type 2 (and type 1,
/// None, as a success). Never changes the bytes; stops looking once <see cref="Outcome"/> is not Pending.
/// </summary>
/// <remarks>
/// The bytes of each direction are kept up to <see cref="MaxHandshakeBytes"/> (a handshake is a few hundred bytes; a server
/// still pending past it is Unknown, a client's bytes past it are not needed and ignored) and the exchange is parsed again
/// from the start on every arrival, so any fragmentation (one byte at a time) gives the same answer. The client's answer to the challenge is never looked at or kept beyond the
/// handshake: only its length matters. A failure reason (3.8) is read when it came with the result; the outcome does not
/// wait for it.
/// </remarks>
public sealed class RfbAuthObserver : IRelayObserver
{
    /// <summary>A handshake longer than this, either way, is not one this observer follows.</summary>
    public const int MaxHandshakeBytes = 8192;

    private readonly Lock _lock = new();
    private byte[] _fromServer = new byte[256];
    private int _serverLength;
    private byte[] _fromClient = new byte[64];
    private int _clientLength;
    private RfbAuthOutcome _outcome;
    private string? _failureReason;

    public RfbAuthOutcome Outcome
    {
        get
        {
            lock (_lock)
            {
                return _outcome;
            }
        }
    }

    /// <summary>For Failed: the server's reason string (printable, shortened) or what went wrong; otherwise null.</summary>
    public string? FailureReason
    {
        get
        {
            lock (_lock)
            {
                return _failureReason;
            }
        }
    }

    public bool Watching => Outcome == RfbAuthOutcome.Pending;

    /// <summary>Bytes the TLS client (the admin's viewer) sent towards the server.</summary>
    public void FromTls(ReadOnlySpan<byte> data)
    {
        lock (_lock)
        {
            if (_outcome == RfbAuthOutcome.Pending)
            {
                Append(ref _fromClient, ref _clientLength, data, fromServer: false);
            }
        }
    }

    /// <summary>Bytes the server (Xvnc) sent towards the client.</summary>
    public void FromPlain(ReadOnlySpan<byte> data)
    {
        lock (_lock)
        {
            if (_outcome == RfbAuthOutcome.Pending)
            {
                Append(ref _fromServer, ref _serverLength, data, fromServer: true);
            }
        }
    }

    /// <summary>
    /// Keeps the bytes, up to the bound (a read that also carries what follows the handshake is looked at up to there), and
    /// parses. A server still pending at the bound is Unknown: no RFB handshake is that long.
    /// </summary>
    private void Append(ref byte[] buffer, ref int length, ReadOnlySpan<byte> data, bool fromServer)
    {
        data = data[..Math.Min(data.Length, MaxHandshakeBytes - length)];
        if (data.IsEmpty)
        {
            return; // nothing, or a client past the bound: its bytes so far hold all the handshake needs of it
        }
        if (length + data.Length > buffer.Length)
        {
            Array.Resize(ref buffer, Math.Min(MaxHandshakeBytes, Math.Max(buffer.Length * 2, length + data.Length)));
        }
        data.CopyTo(buffer.AsSpan(length));
        length += data.Length;
        var atBound = length == MaxHandshakeBytes;
        var (outcome, reason) = Parse(_fromServer.AsSpan(0, _serverLength), _fromClient.AsSpan(0, _clientLength));
        if (outcome != RfbAuthOutcome.Pending)
        {
            Finish(outcome, reason);
        }
        else if (atBound && fromServer)
        {
            Finish(RfbAuthOutcome.Unknown, null);
        }
        // A client at the bound is not given up on: what decides is the server's result, still to come. (Giving up would let
        // a client that sends its answer to the challenge followed by a flood learn the verdict unseen.)
    }

    private void Finish(RfbAuthOutcome outcome, string? reason)
    {
        _outcome = outcome;
        _failureReason = outcome == RfbAuthOutcome.Failed ? reason : null;
        // The client's bytes include its answer to the challenge: nothing of the handshake is kept once it is decided.
        Array.Clear(_fromClient);
        Array.Clear(_fromServer);
        _fromClient = [];
        _fromServer = [];
        _clientLength = _serverLength = 0;
    }

    private static readonly (RfbAuthOutcome, string?) Pending = (RfbAuthOutcome.Pending, null);
    private static readonly (RfbAuthOutcome, string?) Unknown = (RfbAuthOutcome.Unknown, null);

    /// <summary>The outcome of the exchange so far (Pending while a needed byte has not been seen yet).</summary>
    private static (RfbAuthOutcome Outcome, string? Reason) Parse(ReadOnlySpan<byte> server, ReadOnlySpan<byte> client)
    {
        if (server.Length >= 12 && RfbText.VersionMinor(server[..12]) is null)
        {
            return Unknown;
        }
        // The client's version is read as leniently as Xvnc reads it: a version the observer rejected but Xvnc accepted would
        // let that client try passwords unseen (neither logged nor counted against its address).
        if (client.Length >= 12 && RfbText.ClientVersionMinor(client[..12]) is null)
        {
            return Unknown;
        }
        if (server.Length < 12 || client.Length < 12)
        {
            return Pending;
        }
        // The client chooses the version, at most the server's (a client that claims more gets the server's); 3.4–3.6 are
        // 3.3 (RFC 6143 §7.1.1), and a minor above 8 is spoken as 3.8.
        var minor = Math.Min(Spoken(RfbText.VersionMinor(server[..12])!.Value), Spoken(RfbText.ClientVersionMinor(client[..12])!.Value));
        var s = server[12..];
        var c = client[12..];
        if (minor == 3)
        {
            if (s.Length < 4)
            {
                return Pending;
            }
            var type = BinaryPrimitives.ReadUInt32BigEndian(s);
            return type switch
            {
                0 => (RfbAuthOutcome.Failed, "server refused the connection" + Reason(s[4..], prefix: ": ")),
                1 => (RfbAuthOutcome.Succeeded, null),
                VncAuth.SecurityType => Result(s[4..], withReason: false),
                _ => Unknown,
            };
        }
        if (s.Length < 1)
        {
            return Pending;
        }
        var count = s[0];
        if (count == 0)
        {
            return (RfbAuthOutcome.Failed, "server refused the connection" + Reason(s[1..], prefix: ": "));
        }
        if (s.Length < 1 + count || c.Length < 1)
        {
            return Pending;
        }
        var offered = s.Slice(1, count);
        var chosen = c[0];
        if (offered.IndexOf(chosen) < 0)
        {
            return Unknown; // the server fails it; not a password failure
        }
        var afterTypes = s[(1 + count)..];
        return chosen switch
        {
            1 when minor == 7 => (RfbAuthOutcome.Succeeded, null),
            1 => afterTypes.Length < 4 ? Pending
                : BinaryPrimitives.ReadUInt32BigEndian(afterTypes) == 0 ? (RfbAuthOutcome.Succeeded, null)
                : (RfbAuthOutcome.Failed, "security failure" + Reason(afterTypes[4..], prefix: ": ")),
            VncAuth.SecurityType => Result(afterTypes, withReason: minor == 8),
            _ => Unknown,
        };
    }

    private static int Spoken(int minor) => minor >= 8 ? 8 : minor == 7 ? 7 : 3;

    /// <summary>After type 2: the 16-byte challenge, then SecurityResult (and on 3.8 a failure reason).</summary>
    private static (RfbAuthOutcome, string?) Result(ReadOnlySpan<byte> s, bool withReason)
    {
        if (s.Length < VncAuth.ChallengeLength + 4)
        {
            return Pending;
        }
        var result = BinaryPrimitives.ReadUInt32BigEndian(s[VncAuth.ChallengeLength..]);
        return result == 0
            ? (RfbAuthOutcome.Succeeded, null)
            : (RfbAuthOutcome.Failed, "password rejected" + (withReason ? Reason(s[(VncAuth.ChallengeLength + 4)..], prefix: ": ") : ""));
    }

    /// <summary>A u32-length reason string when all of it is here; "" otherwise.</summary>
    private static string Reason(ReadOnlySpan<byte> s, string prefix)
    {
        if (s.Length < 4)
        {
            return "";
        }
        var length = BinaryPrimitives.ReadUInt32BigEndian(s);
        if (length == 0 || length > (uint)(s.Length - 4))
        {
            return "";
        }
        return prefix + RfbText.PrintableBytes(s.Slice(4, (int)length));
    }
}
