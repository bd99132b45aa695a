namespace Bastion.Supervision;

/// <summary>
/// Feeds systemd's watchdog only while the supervision loop is healthy: every half interval it asks the loop
/// to answer a probe, and pings only if the answer comes within <see cref="AnswerWithin"/> (a quarter of the
/// interval). So two pings are never more than ¾ of the interval apart while the loop is healthy, and a loop that
/// is stuck (deadlocked, starved) stops the pings: systemd restarts the daemon after <c>WatchdogSec</c>.
/// </summary>
public sealed class SupervisionWatchdog(
    TimeSpan interval,
    TimeProvider time,
    Func<TaskCompletionSource> askLoop,
    Action ping,
    Action<TimeSpan> withheld)
{
    /// <summary>Half of systemd's <c>WATCHDOG_USEC</c>, as sd_watchdog_enabled(3) recommends.</summary>
    public TimeSpan Period { get; } = interval / 2;

    /// <summary>How long the loop may take to answer a probe before the ping is withheld.</summary>
    public TimeSpan AnswerWithin { get; } = interval / 4;

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            var started = time.GetTimestamp();
            var answer = askLoop();
            try
            {
                await answer.Task.WaitAsync(AnswerWithin, time, cancellationToken).ConfigureAwait(false);
                ping();
            }
            catch (TimeoutException)
            {
                withheld(AnswerWithin);
            }
            var left = Period - time.GetElapsedTime(started);
            if (left > TimeSpan.Zero)
            {
                await Task.Delay(left, time, cancellationToken).ConfigureAwait(false);
            }
        }
    }
}
