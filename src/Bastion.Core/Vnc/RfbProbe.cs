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
public sealed record RfbProbeResult(RfbHealth Health, string Detail, RfbServerInit? ServerInit = null);

/// <summary>
/// The client side of the RFB 3.8 handshake up to ServerInit (RFC 6143 §7.1–7.3): version, security type 2 (VNC
/// authentication), SecurityResult, ClientInit with shared-flag 1 (always: a non-shared client would disconnect an admin
/// who is using the desktop), ServerInit. Used by the daemon's health probe, by <c>bastionctl vnc probe</c> and by tests.
/// Peer strings (version, failure reasons, desktop name) are made printable and shortened before they are reported.
/// </summary>
public static class RfbProbe
{
    /// <summary>Runs the handshake on a connected stream and returns ServerInit; the stream is left open after it (a client may go on).</summary>
    /// <exception cref="RfbException">The server is not usable; <see cref="RfbException.Health"/> says AuthBroken or Dead.</exception>
    public static Task<RfbServerInit> HandshakeAsync(Stream stream, string password, CancellationToken cancellationToken) =>
        throw new NotImplementedException();

    /// <summary>The handshake on <paramref name="stream"/>, classified; never throws except for <paramref name="cancellationToken"/>.</summary>
    public static Task<RfbProbeResult> ProbeAsync(Stream stream, string password, CancellationToken cancellationToken) =>
        throw new NotImplementedException();

    /// <summary>Connects to a Unix socket (Xvnc's <c>-rfbunixpath</c>) and probes, all within <paramref name="timeout"/>.</summary>
    public static Task<RfbProbeResult> ProbeUnixAsync(string socketPath, string password, TimeSpan timeout, TimeProvider time, CancellationToken cancellationToken) =>
        throw new NotImplementedException();
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
