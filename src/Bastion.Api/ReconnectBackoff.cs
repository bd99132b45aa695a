namespace Bastion.Api;

/// <summary>
/// How long to wait before the next connection attempt after that many failed ones: 100 ms, doubling,
/// at most 5 s. Quick at first (a restarted dbus-daemon is back within a second), never slower than 5 s so the API
/// is back soon after the bus, and never a busy loop. No jitter: one client per bus, nothing to spread.
/// </summary>
public static class ReconnectBackoff
{
    public static readonly TimeSpan First = TimeSpan.FromMilliseconds(100);
    public static readonly TimeSpan Longest = TimeSpan.FromSeconds(5);

    public static TimeSpan Delay(int failures)
    {
        if (failures <= 0)
        {
            return First;
        }
        var ms = First.TotalMilliseconds * Math.Pow(2, Math.Min(failures, 16));
        return ms >= Longest.TotalMilliseconds ? Longest : TimeSpan.FromMilliseconds(ms);
    }
}
