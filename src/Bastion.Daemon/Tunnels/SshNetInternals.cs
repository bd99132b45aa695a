using System.Runtime.CompilerServices;
using Renci.SshNet;
using Renci.SshNet.Common;
using Renci.SshNet.Messages;

namespace Bastion.Daemon.Tunnels;

/// <summary>
/// The internals of SSH.NET 2026.0.0 that Bastion's channels and global requests use, in one place: the client's
/// session, its <c>SendMessage</c> and its channel number counter (shared with SSH.NET's own channels, so numbers never
/// collide). Reached with <see cref="UnsafeAccessorAttribute"/>: no reflection, AOT clean, and a rename in a later
/// SSH.NET throws <see cref="MissingMethodException"/> at the first use (<see cref="SessionOf"/> checks them all).
/// </summary>
internal static class SshNetInternals
{
    /// <summary>The connected session of <paramref name="client"/>; every accessor here is checked on the way.</summary>
    /// <exception cref="SshConnectionException">the client has no session (not connected).</exception>
    /// <exception cref="MissingMethodException">SSH.NET no longer has the internals this relies on.</exception>
    public static Session SessionOf(SshClient client)
    {
        if (GetSession(client) is not Session session)
        {
            throw new SshConnectionException("the client has no session");
        }
        _ = NextChannelNumber(session); // the first use checks the accessor's target exists (a gap in numbers is harmless)
        return session;
    }

    /// <summary>Sends <paramref name="message"/> (blocking while the session's socket is full).</summary>
    /// <returns>False when it could not be sent: the session is gone or closing.</returns>
    public static bool TrySend(Session session, Message message)
    {
        try
        {
            SendMessage(session, message);
            return true;
        }
        catch (Exception e) when (e is SshException or System.Net.Sockets.SocketException or ObjectDisposedException or InvalidOperationException)
        {
            return false;
        }
    }

    [UnsafeAccessor(UnsafeAccessorKind.Method, Name = "get_NextChannelNumber")]
    public static extern uint NextChannelNumber(Session session);

    [UnsafeAccessor(UnsafeAccessorKind.Method, Name = "get_Session")]
    [return: UnsafeAccessorType("Renci.SshNet.ISession, Renci.SshNet")]
    private static extern object? GetSession(BaseClient client);

    [UnsafeAccessor(UnsafeAccessorKind.Method, Name = "SendMessage")]
    private static extern void SendMessage(Session session, Message message);
}
