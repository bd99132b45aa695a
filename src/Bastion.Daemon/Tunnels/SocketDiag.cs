using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Bastion.Daemon.Tunnels;

/// <summary>
/// Asks the kernel (netlink sock_diag, an exact lookup by four-tuple, not a dump) which uid owns one TCP socket on
/// this machine. Its cost does not grow with the number of sockets open, unlike reading /proc/net/tcp, which a local
/// user can make as long as they like. Unprivileged; where the netlink family is not allowed (a seccomp or
/// RestrictAddressFamilies sandbox) <see cref="Available"/> turns false and the caller reads the socket table.
/// </summary>
internal static partial class SocketDiag
{
    private const int AfNetlink = 16, SockDgram = 2, SockCloexec = 0x80000, NetlinkSockDiag = 4;
    private const ushort SockDiagByFamily = 20, NlmFRequest = 1;
    private const int MsgDontwait = 0x40;
    private const int RequestLength = 16 + 56; // nlmsghdr + inet_diag_req_v2
    private const int UidOffset = 16 + 64;     // nlmsghdr + inet_diag_msg up to idiag_uid

    private static volatile bool _unavailable;

    /// <summary>False once the kernel refused a netlink socket (then it is not asked again).</summary>
    public static bool Available => !_unavailable;

    /// <summary>
    /// The uid owning the TCP socket whose local end is <paramref name="address"/>:<paramref name="port"/> and whose
    /// remote end is <paramref name="remoteAddress"/>:<paramref name="remotePort"/>. Found false when there is no such
    /// socket or the kernel could not be asked (see <see cref="Available"/>).
    /// </summary>
    public static unsafe (bool Found, int Uid) PeerUid(IPAddress address, int port, IPAddress remoteAddress, int remotePort)
    {
        if (_unavailable || address.AddressFamily != remoteAddress.AddressFamily)
        {
            return (false, 0);
        }
        var fd = socket(AfNetlink, SockDgram | SockCloexec, NetlinkSockDiag);
        if (fd < 0)
        {
            _unavailable = true;
            return (false, 0);
        }
        try
        {
            Span<byte> request = stackalloc byte[RequestLength];
            request.Clear();
            BitConverter.TryWriteBytes(request[0..4], (uint)RequestLength);
            BitConverter.TryWriteBytes(request[4..6], SockDiagByFamily);
            BitConverter.TryWriteBytes(request[6..8], NlmFRequest);
            BitConverter.TryWriteBytes(request[8..12], 1u);
            request[16] = (byte)(address.AddressFamily == AddressFamily.InterNetwork ? 2 : 10);
            request[17] = (byte)ProtocolType.Tcp;
            BitConverter.TryWriteBytes(request[20..24], uint.MaxValue); // every state
            BinaryPrimitives.WriteUInt16BigEndian(request[24..26], (ushort)port);
            BinaryPrimitives.WriteUInt16BigEndian(request[26..28], (ushort)remotePort);
            address.TryWriteBytes(request[28..44], out _);
            remoteAddress.TryWriteBytes(request[44..60], out _);
            request[64..72].Fill(0xff); // INET_DIAG_NOCOOKIE
            Span<byte> kernel = stackalloc byte[12];
            kernel.Clear();
            BitConverter.TryWriteBytes(kernel[0..2], (ushort)AfNetlink);
            fixed (byte* req = request)
            fixed (byte* to = kernel)
            {
                if (sendto(fd, req, RequestLength, 0, to, kernel.Length) != RequestLength)
                {
                    _unavailable = Marshal.GetLastPInvokeError() is 1 or 13 or 97; // EPERM, EACCES, EAFNOSUPPORT
                    return (false, 0);
                }
            }
            // The kernel answers an exact lookup before sendto returns: nothing to wait for.
            Span<byte> reply = stackalloc byte[512];
            nint n;
            fixed (byte* buffer = reply)
            {
                n = recv(fd, buffer, reply.Length, MsgDontwait);
            }
            if (n < UidOffset + 4 || BitConverter.ToUInt16(reply[4..6]) != SockDiagByFamily)
            {
                return (false, 0); // NLMSG_ERROR (ENOENT: no such socket) or nothing
            }
            return (true, (int)BitConverter.ToUInt32(reply[UidOffset..(UidOffset + 4)]));
        }
        finally
        {
            _ = close(fd);
        }
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int socket(int domain, int type, int protocol);

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial nint sendto(int fd, byte* buffer, nint length, int flags, byte* address, int addressLength);

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial nint recv(int fd, byte* buffer, nint length, int flags);

    [LibraryImport("libc")]
    private static partial int close(int fd);
}
