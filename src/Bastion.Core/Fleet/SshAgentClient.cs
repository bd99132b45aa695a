using System.Net.Sockets;

namespace Bastion.Fleet;

/// <summary>Why talking to ssh-agent failed; the message says what to do and never holds key material.</summary>
public sealed class SshAgentException(string message) : Exception(message);

/// <summary>
/// A client of the ssh-agent protocol (draft-miller-ssh-agent) over the Unix socket in <c>SSH_AUTH_SOCK</c>: lists the
/// agent's keys (SSH_AGENTC_REQUEST_IDENTITIES) and has one sign data (SSH_AGENTC_SIGN_REQUEST), so an admin signs fleet
/// commands with a key whose private half never leaves the agent (a passphrase-protected file, a forwarded agent).
/// An agent can only sign: it cannot decrypt, so replies sealed to that key cannot be opened through it.
/// Every answer is bounded (256 KiB, 1024 keys) and every read and write times out: a stuck agent is an error, not a hang.
/// </summary>
public sealed class SshAgentClient : IDisposable
{
    private const byte FailureCode = 5;
    private const byte RequestIdentities = 11;
    private const byte IdentitiesAnswer = 12;
    private const byte SignRequest = 13;
    private const byte SignResponse = 14;

    /// <summary>SSH_AGENT_RSA_SHA2_512: an RSA key signs with rsa-sha2-512 instead of the SHA-1 ssh-rsa.</summary>
    private const uint RsaSha2512 = 4;

    private const int MaxAnswer = 256 * 1024;
    private const int MaxKeys = 1024;

    private readonly Socket _socket;

    private SshAgentClient(Socket socket) => _socket = socket;

    /// <summary>Connects to the agent at <paramref name="socketPath"/> (the value of SSH_AUTH_SOCK).</summary>
    public static SshAgentClient Connect(string? socketPath, TimeSpan timeout)
    {
        if (string.IsNullOrEmpty(socketPath))
        {
            throw new SshAgentException("no ssh-agent: SSH_AUTH_SOCK is not set (start one with `eval $(ssh-agent)` and add your key with `ssh-add FILE`)");
        }
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified)
        {
            ReceiveTimeout = (int)timeout.TotalMilliseconds,
            SendTimeout = (int)timeout.TotalMilliseconds,
        };
        try
        {
            socket.Connect(new UnixDomainSocketEndPoint(socketPath));
            return new SshAgentClient(socket);
        }
        catch (SocketException e)
        {
            socket.Dispose();
            throw new SshAgentException($"cannot reach ssh-agent at SSH_AUTH_SOCK={socketPath}: {e.Message} (is the agent still running?)");
        }
    }

    /// <summary>The agent's keys, in its order, with their comments.</summary>
    public IReadOnlyList<(SshPublicKey Key, string Comment)> Identities()
    {
        var answer = Exchange([RequestIdentities]);
        try
        {
            var reader = new SshReader(answer);
            if (reader.ReadRaw(1)[0] != IdentitiesAnswer)
            {
                throw new SshAgentException("ssh-agent refused to list its keys");
            }
            var count = reader.ReadUInt32();
            if (count > MaxKeys)
            {
                throw new SshAgentException($"ssh-agent claims {count} keys; at most {MaxKeys} are read");
            }
            var keys = new List<(SshPublicKey, string)>((int)count);
            for (var i = 0; i < count; i++)
            {
                var blob = reader.ReadString();
                var comment = reader.ReadText();
                try
                {
                    keys.Add((SshPublicKey.Parse(blob), comment));
                }
                catch (SshFormatException)
                {
                    // a key type Bastion does not know (e.g. a security key): not usable here, the others are
                }
            }
            return keys;
        }
        catch (SshFormatException)
        {
            throw new SshAgentException("ssh-agent's list of keys is malformed");
        }
    }

    /// <summary>
    /// Has the agent sign <paramref name="data"/> with <paramref name="key"/>; returns the SSH signature blob
    /// (<c>string algorithm || string signature</c>). RSA keys are asked for rsa-sha2-512.
    /// </summary>
    public byte[] Sign(SshPublicKey key, ReadOnlySpan<byte> data)
    {
        ArgumentNullException.ThrowIfNull(key);
        var request = new SshWriter()
            .WriteRaw([SignRequest])
            .WriteString(key.Blob)
            .WriteString(data)
            .WriteUInt32(key.Type == "ssh-rsa" ? RsaSha2512 : 0)
            .ToArray();
        var answer = Exchange(request);
        if (answer.Length >= 1 && answer[0] == FailureCode)
        {
            throw new SshAgentException($"ssh-agent refused to sign with {key.Fingerprint} (is it loaded? `ssh-add -l` lists the agent's keys; a confirm-only key needs a yes)");
        }
        try
        {
            var reader = new SshReader(answer);
            if (reader.ReadRaw(1)[0] != SignResponse)
            {
                throw new SshAgentException("ssh-agent answered the signing request with something else");
            }
            var signature = reader.ReadString().ToArray();
            reader.ExpectEnd();
            return signature;
        }
        catch (SshFormatException)
        {
            throw new SshAgentException("ssh-agent's signature is malformed");
        }
    }

    private byte[] Exchange(ReadOnlySpan<byte> message)
    {
        try
        {
            var frame = new byte[4 + message.Length];
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(frame, (uint)message.Length);
            message.CopyTo(frame.AsSpan(4));
            _socket.Send(frame);
            var header = new byte[4];
            ReadExactly(header);
            var length = System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(header);
            if (length is 0 or > MaxAnswer)
            {
                throw new SshAgentException($"ssh-agent sent an answer of {length} bytes (at most {MaxAnswer} are read)");
            }
            var answer = new byte[length];
            ReadExactly(answer);
            return answer;
        }
        catch (SocketException e)
        {
            throw new SshAgentException($"ssh-agent did not answer: {e.Message}");
        }
    }

    private void ReadExactly(Span<byte> buffer)
    {
        while (buffer.Length > 0)
        {
            var read = _socket.Receive(buffer);
            if (read == 0)
            {
                throw new SshAgentException("ssh-agent closed the connection");
            }
            buffer = buffer[read..];
        }
    }

    public void Dispose() => _socket.Dispose();
}
