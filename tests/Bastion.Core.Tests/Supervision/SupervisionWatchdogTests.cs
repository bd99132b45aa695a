using Bastion.Supervision;

namespace Bastion.Tests.Supervision;

public sealed class SupervisionWatchdogTests
{
    private sealed class Loop
    {
        private readonly Queue<TaskCompletionSource> _pending = new();
        public bool Healthy { get; set; } = true;
        public int Pings;
        public int Withheld;

        public TaskCompletionSource Ask()
        {
            var probe = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            if (Healthy)
            {
                probe.SetResult();
            }
            else
            {
                lock (_pending) { _pending.Enqueue(probe); } // a stuck loop never gets to it
            }
            return probe;
        }
    }

    [Fact]
    public async Task Pings_at_half_the_interval_while_the_loop_answers_and_stops_while_it_is_stuck()
    {
        var time = Clocks.Fake();
        var loop = new Loop();
        var watchdog = new SupervisionWatchdog(TimeSpan.FromSeconds(30), time, loop.Ask,
            () => Interlocked.Increment(ref loop.Pings), _ => Interlocked.Increment(ref loop.Withheld));
        Assert.Equal(TimeSpan.FromSeconds(15), watchdog.Period);
        Assert.Equal(TimeSpan.FromSeconds(7.5), watchdog.AnswerWithin);
        using var stop = new CancellationTokenSource();
        var run = watchdog.RunAsync(stop.Token);

        await Wait.UntilAsync(() => Volatile.Read(ref loop.Pings) == 1, "first ping at once");
        time.Advance(TimeSpan.FromSeconds(15));
        await Wait.UntilAsync(() => Volatile.Read(ref loop.Pings) == 2, "second ping after 15 s");

        // The loop gets stuck: the next probes go unanswered; each half interval without an answer withholds the ping.
        loop.Healthy = false;
        await Wait.UntilAsync(() =>
        {
            time.Advance(TimeSpan.FromSeconds(1));
            return Volatile.Read(ref loop.Withheld) >= 2;
        }, "pings withheld");
        Assert.Equal(2, Volatile.Read(ref loop.Pings));

        loop.Healthy = true;
        await Wait.UntilAsync(() =>
        {
            time.Advance(TimeSpan.FromSeconds(1));
            return Volatile.Read(ref loop.Pings) == 3;
        }, "pings resume once the loop answers again");

        await stop.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run.WaitAsync(TimeSpan.FromSeconds(10)));
    }
}
