using System.Net.Sockets;
using System.Text;

namespace Bastion.Daemon.Systemd;

/// <summary>
/// sd_notify over the datagram socket systemd names in <c>NOTIFY_SOCKET</c>. Written by hand because
/// Microsoft.Extensions.Hosting.Systemd only activates under a parent process named systemd (see
/// ../shared/notes/systemd-dbus.md) and has no STATUS/WATCHDOG/RELOADING helpers. Without the variable
/// every call is a silent no-op, so the daemon behaves the same outside systemd.
/// </summary>
public sealed class SystemdNotifier : IDisposable
{
    private readonly Socket? _socket;
    private readonly UnixDomainSocketEndPoint? _endpoint;
    private readonly Lock _lock = new();

    private SystemdNotifier(string? path, TimeSpan? watchdogInterval)
    {
        WatchdogInterval = watchdogInterval;
        if (string.IsNullOrEmpty(path))
        {
            return;
        }
        // '@' names a socket in the abstract namespace (sd_notify(3)).
        _endpoint = new UnixDomainSocketEndPoint(path[0] == '@' ? "\0" + path[1..] : path);
        _socket = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
    }

    public bool Enabled => _socket is not null;

    /// <summary>Set when systemd asked for watchdog pings (<c>WATCHDOG_USEC</c>, for this pid).</summary>
    public TimeSpan? WatchdogInterval { get; }

    /// <summary>
    /// Reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID, then removes them from the environment
    /// so child processes (tor, Xvnc) do not notify systemd in the daemon's name.
    /// </summary>
    public static SystemdNotifier FromEnvironment()
    {
        var socket = Environment.GetEnvironmentVariable("NOTIFY_SOCKET");
        TimeSpan? watchdog = null;
        if (long.TryParse(Environment.GetEnvironmentVariable("WATCHDOG_USEC"), out var usec) && usec > 0)
        {
            var pidText = Environment.GetEnvironmentVariable("WATCHDOG_PID");
            if (string.IsNullOrEmpty(pidText) || (int.TryParse(pidText, out var pid) && pid == Environment.ProcessId))
            {
                watchdog = TimeSpan.FromMicroseconds(usec);
            }
        }
        Environment.SetEnvironmentVariable("NOTIFY_SOCKET", null);
        Environment.SetEnvironmentVariable("WATCHDOG_USEC", null);
        Environment.SetEnvironmentVariable("WATCHDOG_PID", null);
        return new SystemdNotifier(socket, watchdog);
    }

    /// <summary>Sends one notification (newline-separated assignments). Never throws: systemd going away must not stop the daemon.</summary>
    public bool Notify(string state)
    {
        if (_socket is null)
        {
            return false;
        }
        var bytes = Encoding.UTF8.GetBytes(state);
        lock (_lock)
        {
            try
            {
                _socket.SendTo(bytes, SocketFlags.None, _endpoint!);
                return true;
            }
            catch (SocketException)
            {
                return false;
            }
            catch (ObjectDisposedException)
            {
                return false;
            }
        }
    }

    /// <summary>STATUS= takes one line; newlines would end the assignment early.</summary>
    public static string StatusLine(string text) => "STATUS=" + text.ReplaceLineEndings(" ");

    public void Dispose() => _socket?.Dispose();
}
