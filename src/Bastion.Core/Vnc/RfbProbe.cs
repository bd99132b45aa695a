using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Text;
using Bastion.Config;

namespace Bastion.Vnc;

/// <summary>What an RFB probe found.</summary>
public enum RfbHealth
{
    /// <summary>RFB 3.8 handshake, VNC authentication and ServerInit all completed.</summary>
    Up,

    /// <summary>The server speaks RFB but authentication cannot work: VNC auth not offered, password rejected, or a security failure.</summary>
    AuthBroken,

    /// <summary>No RFB server: cannot connect, closed, timed out, or not RFB.</summary>
    Dead,
}

/// <summary>ServerInit: the desktop's size, pixel format (16 bytes, as sent) and name.</summary>
public sealed record RfbServerInit(int Width, int Height, byte[] PixelFormat, string Name);

/// <summary>A probe's verdict; <see cref="Detail"/> is one line for status and logs (never contains the password).</summary>
public sealed record RfbProbeResult(RfbHealth Health, string Detail, RfbServerInit? ServerInit = null)
{
    /// <summary>The verdict and its detail in one line: "up: 1280x800 'name'", "auth broken: password rejected: …", "dead: no socket at …".</summary>
    public string Describe() => $"{HealthText(Health)}: {Detail}";

    /// <summary>"up", "auth broken", "dead".</summary>
    public static string HealthText(RfbHealth health) => health switch
    {
        RfbHealth.Up => "up",
        RfbHealth.AuthBroken => "auth broken",
        _ => "dead",
    };
}

/// <summary>
/// The client side of the RFB 3.8 handshake up to ServerInit (RFC 6143 §7.1–7.3): version, security type 2 (VNC
/// authentication), SecurityResult, ClientInit with shared-flag 1 (always: a non-shared client would disconnect an admin
/// who is using the desktop), ServerInit. Used by the daemon's health probe, by <c>bastionctl vnc probe</c> and by tests.
/// Peer strings (version, failure reasons, desktop name) are made printable and shortened before they are reported.
/// </summary>
/// <remarks>
/// A server that offers RFB 3.7 or 3.3 is answered in its version (3.3: the server picks the security type). Every length the
/// server sends is bounded before anything is read (<see cref="MaxStringLength"/>), so a broken peer cannot make the probe
/// allocate or wait for more than a handshake's worth.
/// </remarks>
public static class RfbProbe
{
    /// <summary>The longest failure reason or desktop name read from a server.</summary>
    public const int MaxStringLength = 4096;

    /// <summary>Runs the handshake on a connected stream and returns ServerInit; the stream is left open after it (a client may go on).</summary>
    /// <exception cref="RfbException">The server is not usable; <see cref="RfbException.Health"/> says AuthBroken or Dead.</exception>
    public static Task<RfbServerInit> HandshakeAsync(Stream stream, string password, CancellationToken cancellationToken) =>
        HandshakeAsync(stream, password, new Progress(), cancellationToken);

    /// <summary>The handshake on <paramref name="stream"/>, classified; never throws except for <paramref name="cancellationToken"/>.</summary>
    public static Task<RfbProbeResult> ProbeAsync(Stream stream, string password, CancellationToken cancellationToken) =>
        ProbeAsync(stream, password, new Progress(), cancellationToken);

    /// <summary>Connects to a Unix socket (Xvnc's <c>-rfbunixpath</c>) and probes, all within <paramref name="timeout"/>.</summary>
    public static async Task<RfbProbeResult> ProbeUnixAsync(string socketPath, string password, TimeSpan timeout, TimeProvider time, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(time);
        using var deadline = new CancellationTokenSource(timeout, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, deadline.Token);
        var progress = new Progress { Stage = "connecting" };
        UnixDomainSocketEndPoint endpoint;
        try
        {
            endpoint = new UnixDomainSocketEndPoint(socketPath);
        }
        catch (ArgumentException)
        {
            return new RfbProbeResult(RfbHealth.Dead, $"not a usable socket path (empty or longer than a Unix socket address allows): {socketPath}");
        }
        try
        {
            using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            try
            {
                await socket.ConnectAsync(endpoint, linked.Token).ConfigureAwait(false);
            }
            catch (SocketException e)
            {
                return new RfbProbeResult(RfbHealth.Dead, ConnectError(socketPath, e));
            }
            await using var stream = new NetworkStream(socket, ownsSocket: false);
            return await ProbeAsync(stream, password, progress, linked.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            return new RfbProbeResult(RfbHealth.Dead, $"no answer within {Durations.Format(timeout)} ({progress.Stage})");
        }
    }

    private static string ConnectError(string path, SocketException e) => e.SocketErrorCode switch
    {
        SocketError.AddressNotAvailable when !File.Exists(path) => $"no socket at {path}",
        SocketError.ConnectionRefused => $"connection refused at {path}",
        SocketError.AccessDenied => $"permission denied at {path}",
        _ => File.Exists(path) || Directory.Exists(Path.GetDirectoryName(path))
            ? $"cannot connect to {path}: {e.Message}"
            : $"no socket at {path}",
    };

    private static async Task<RfbProbeResult> ProbeAsync(Stream stream, string password, Progress progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(stream);
        try
        {
            var init = await HandshakeAsync(stream, password, progress, cancellationToken).ConfigureAwait(false);
            return new RfbProbeResult(RfbHealth.Up, string.Create(CultureInfo.InvariantCulture, $"{init.Width}x{init.Height} '{init.Name}'"), init);
        }
        catch (RfbException e)
        {
            return new RfbProbeResult(e.Health, e.Message);
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or NotSupportedException)
        {
            var reason = e is IOException { InnerException: SocketException s } ? s.Message : e.Message;
            return new RfbProbeResult(RfbHealth.Dead, $"connection error {progress.Stage}: {RfbText.Printable(reason)}");
        }
    }

    private static async Task<RfbServerInit> HandshakeAsync(Stream stream, string password, Progress progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(password);
        var reader = new Reader(stream, progress);

        progress.Stage = "during the version exchange";
        var version = await reader.ReadAsync(12, cancellationToken).ConfigureAwait(false);
        var minor = RfbText.VersionMinor(version)
            ?? throw new RfbException(RfbHealth.Dead, $"not an RFB server: '{RfbText.PrintableBytes(version.AsSpan().TrimEnd((byte)'\n'))}'");
        // RFC 6143 §7.1.1: only 3.3, 3.7 and 3.8 exist; other 3.x minors are treated as 3.3; a newer one gets our 3.8.
        minor = minor >= 8 ? 8 : minor == 7 ? 7 : 3;
        progress.Stage = "during the security handshake"; // set first: the server may answer before the write returns
        await WriteAsync(stream, Encoding.ASCII.GetBytes($"RFB 003.00{minor}\n"), cancellationToken).ConfigureAwait(false);

        if (minor == 3)
        {
            // 3.3: the server decides the security type.
            var type = BinaryPrimitives.ReadUInt32BigEndian(await reader.ReadAsync(4, cancellationToken).ConfigureAwait(false));
            if (type == 0)
            {
                throw new RfbException(RfbHealth.AuthBroken, $"server refused: {await reader.ReadReasonAsync(cancellationToken).ConfigureAwait(false)}");
            }
            if (type != VncAuth.SecurityType)
            {
                throw new RfbException(RfbHealth.AuthBroken, $"VNC authentication not offered (types: {SecurityTypeName(type)})");
            }
        }
        else
        {
            var count = (await reader.ReadAsync(1, cancellationToken).ConfigureAwait(false))[0];
            if (count == 0)
            {
                throw new RfbException(RfbHealth.AuthBroken, $"server refused: {await reader.ReadReasonAsync(cancellationToken).ConfigureAwait(false)}");
            }
            var types = await reader.ReadAsync(count, cancellationToken).ConfigureAwait(false);
            if (Array.IndexOf(types, (byte)VncAuth.SecurityType) < 0)
            {
                throw new RfbException(RfbHealth.AuthBroken,
                    $"VNC authentication not offered (types: {string.Join(", ", types.Select(t => SecurityTypeName(t)))})");
            }
            await WriteAsync(stream, [(byte)VncAuth.SecurityType], cancellationToken).ConfigureAwait(false);
        }

        progress.Stage = "during VNC authentication";
        var challenge = await reader.ReadAsync(VncAuth.ChallengeLength, cancellationToken).ConfigureAwait(false);
        byte[] response;
        try
        {
            response = VncAuth.Response(challenge, password);
        }
        catch (ArgumentException e)
        {
            throw new RfbException(RfbHealth.AuthBroken, e.Message); // a password that cannot make a DES key; the message never holds it
        }
        await WriteAsync(stream, response, cancellationToken).ConfigureAwait(false);

        progress.Stage = "waiting for the security result";
        var result = BinaryPrimitives.ReadUInt32BigEndian(await reader.ReadAsync(4, cancellationToken).ConfigureAwait(false));
        if (result != 0)
        {
            // Only 3.8 sends a reason. A server that closes instead of sending it still said no.
            var reason = minor == 8 ? await reader.TryReadReasonAsync(cancellationToken).ConfigureAwait(false) : null;
            throw new RfbException(RfbHealth.AuthBroken, reason is null ? "password rejected" : $"password rejected: {reason}");
        }

        await WriteAsync(stream, [1], cancellationToken).ConfigureAwait(false); // ClientInit: shared

        progress.Stage = "waiting for ServerInit";
        var head = await reader.ReadAsync(24, cancellationToken).ConfigureAwait(false);
        var width = BinaryPrimitives.ReadUInt16BigEndian(head);
        var height = BinaryPrimitives.ReadUInt16BigEndian(head.AsSpan(2));
        var pixelFormat = head.AsSpan(4, 16).ToArray();
        var nameLength = BinaryPrimitives.ReadUInt32BigEndian(head.AsSpan(20));
        if (nameLength > MaxStringLength)
        {
            throw new RfbException(RfbHealth.Dead, string.Create(CultureInfo.InvariantCulture, $"ServerInit name too long ({nameLength} bytes)"));
        }
        var name = await reader.ReadAsync((int)nameLength, cancellationToken).ConfigureAwait(false);
        progress.Stage = "after ServerInit";
        return new RfbServerInit(width, height, pixelFormat, RfbText.PrintableBytes(name));
    }

    private static async Task WriteAsync(Stream stream, byte[] data, CancellationToken cancellationToken)
    {
        await stream.WriteAsync(data, cancellationToken).ConfigureAwait(false);
        await stream.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    internal static string SecurityTypeName(uint type) => type switch
    {
        0 => "0 Invalid",
        1 => "1 None",
        2 => "2 VNC",
        5 => "5 RA2",
        6 => "6 RA2ne",
        16 => "16 Tight",
        18 => "18 TLS",
        19 => "19 VeNCrypt",
        22 => "22 XVP",
        30 => "30 Apple",
        _ => type.ToString(CultureInfo.InvariantCulture),
    };

    /// <summary>
    /// Where the handshake is, for "closed during …" and "no answer within 3s (…)". Stages read "during X" or "waiting for
    /// Y"; a close while waiting for Y is said as "closed before Y".
    /// </summary>
    private sealed class Progress
    {
        public string Stage { get; set; } = "before the handshake";
    }

    private sealed class Reader(Stream stream, Progress progress)
    {
        public async Task<byte[]> ReadAsync(int count, CancellationToken cancellationToken)
        {
            Debug.Assert(count is >= 0 and <= MaxStringLength + 24);
            var buffer = new byte[count];
            var read = 0;
            while (read < count)
            {
                var n = await stream.ReadAsync(buffer.AsMemory(read), cancellationToken).ConfigureAwait(false);
                if (n == 0)
                {
                    throw new RfbException(RfbHealth.Dead, $"closed {progress.Stage.Replace("waiting for", "before", StringComparison.Ordinal)}");
                }
                read += n;
            }
            return buffer;
        }

        /// <summary>A u32-length reason string (security failure), printable and short.</summary>
        public async Task<string> ReadReasonAsync(CancellationToken cancellationToken)
        {
            var length = BinaryPrimitives.ReadUInt32BigEndian(await ReadAsync(4, cancellationToken).ConfigureAwait(false));
            if (length > MaxStringLength)
            {
                return string.Create(CultureInfo.InvariantCulture, $"(a reason of {length} bytes, too long to read)");
            }
            var text = RfbText.PrintableBytes(await ReadAsync((int)length, cancellationToken).ConfigureAwait(false));
            return text.Length == 0 ? "(no reason given)" : text;
        }

        public async Task<string?> TryReadReasonAsync(CancellationToken cancellationToken)
        {
            try
            {
                return await ReadReasonAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is RfbException or IOException or SocketException)
            {
                return null;
            }
        }
    }
}

/// <summary>An RFB server that cannot be used, and how (AuthBroken or Dead).</summary>
public sealed class RfbException : Exception
{
    public RfbException(RfbHealth health, string message) : base(message) => Health = health;
    public RfbException() : this(RfbHealth.Dead, "RFB failure") { }
    public RfbException(string message) : this(RfbHealth.Dead, message) { }
    public RfbException(string message, Exception inner) : base(message, inner) => Health = RfbHealth.Dead;

    public RfbHealth Health { get; }
}
