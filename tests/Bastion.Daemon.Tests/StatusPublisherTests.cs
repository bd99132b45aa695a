using Bastion.Config;
using Bastion.Daemon.Hosting;
using Bastion.Status;
using Bastion.Supervision;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace Bastion.Daemon.Tests;

/// <summary>
/// What an idle daemon allocates for its status: the status of a component that did not change is the object of the
/// last snapshot (a copy of 200 idle tunnels every few seconds was promoted by the GC and kept); status.json is written
/// from a buffer that is reused, with the same text as before; and one memory trim runs once applies have settled.
/// </summary>
public sealed class StatusPublisherTests : IDisposable
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(20);
    private static readonly DateTimeOffset T = new(2026, 12, 7, 0, 0, 0, TimeSpan.Zero);
    private readonly string _dir = Directory.CreateTempSubdirectory("bastion-status-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>Runs until stopped; its detail <c>n</c> is whatever the test last set.</summary>
    private sealed class Settable : IComponent
    {
        public IComponentContext? Context { get; private set; }

        public async Task RunAsync(IComponentContext context, CancellationToken cancellationToken)
        {
            Context = context;
            context.SetDetail("n", "0");
            context.ReportRunning("idle");
            await Task.Delay(Timeout.InfiniteTimeSpan, cancellationToken);
        }
    }

    private static async Task<(Supervisor Supervisor, Settable A, Settable B)> TwoRunningAsync(TimeProvider time)
    {
        var a = new Settable();
        var b = new Settable();
        var supervisor = new Supervisor(time, NullLoggerFactory.Instance);
        await supervisor.ApplyAsync([
            new ComponentSpec(new ComponentId("check", "a"), "a", new BackoffConfig(), () => a),
            new ComponentSpec(new ComponentId("check", "b"), "b", new BackoffConfig(), () => b),
        ]).WaitAsync(Limit);
        await Wait.UntilAsync(
            () => supervisor.Components.All(c => c.State.State == ComponentState.Running) && a.Context is not null && b.Context is not null,
            "both components running", Limit);
        return (supervisor, a, b);
    }

    [Fact]
    public async Task An_unchanged_component_keeps_its_status_object_and_a_changed_one_gets_a_new_one()
    {
        var (supervisor, a, _) = await TwoRunningAsync(new FakeTimeProvider(T));

        var first = StatusPublisher.Components(supervisor);
        var second = StatusPublisher.Components(supervisor, first);
        Assert.Same(first[0], second[0]);
        Assert.Same(first[1], second[1]);

        a.Context!.SetDetail("n", "0"); // the same value: nothing changed
        Assert.Same(first[0], StatusPublisher.Components(supervisor, second)[0]);

        a.Context.SetDetail("n", "1");
        var third = StatusPublisher.Components(supervisor, second);
        Assert.NotSame(second[0], third[0]);
        Assert.Equal("1", third[0].Details["n"]);
        Assert.Equal("0", second[0].Details["n"]); // the copy handed out before is not changed under its reader
        Assert.Same(second[1], third[1]);

        a.Context.ReportDegraded("slow");
        var fourth = StatusPublisher.Components(supervisor, third);
        Assert.NotSame(third[0], fourth[0]);
        Assert.Equal("Degraded", fourth[0].State);
        Assert.Equal("slow", fourth[0].Reason);

        await supervisor.StopAllAsync("test over", Limit);
    }

    [Fact]
    public async Task Status_json_written_from_the_reused_buffer_is_the_serializer_text_each_time()
    {
        var time = new FakeTimeProvider(T);
        var (supervisor, a, _) = await TwoRunningAsync(time);
        var publisher = new StatusPublisher(time, NullLogger.Instance, T);
        var path = Path.Combine(_dir, StatusSnapshot.FileName);

        var big = publisher.Publish(_dir, "running", "2 running", "/etc/bastion.yaml", null, [], StatusPublisher.Components(supervisor));
        Assert.Equal(StatusFile.Serialize(big), File.ReadAllText(path));

        // A shorter document after a longer one: nothing of the longer one may be left at the end.
        var small = publisher.Publish(_dir, "stopping", "", "/etc/bastion.yaml", null, [], []);
        Assert.Equal(StatusFile.Serialize(small), File.ReadAllText(path));
        Assert.Empty(StatusFile.Deserialize(File.ReadAllText(path))!.Components);

        a.Context!.SetDetail("n", "ü → \"quoted\"");
        var again = publisher.Publish(_dir, "running", "2 running", "/etc/bastion.yaml", T, ["x"], StatusPublisher.Components(supervisor, big.Components));
        Assert.Equal(StatusFile.Serialize(again), File.ReadAllText(path));
        Assert.Equal("ü → \"quoted\"", StatusFile.Deserialize(File.ReadAllText(path))!.Components[0].Details["n"]);

        await supervisor.StopAllAsync("test over", Limit);
    }

    [Fact]
    public void One_trim_runs_once_the_last_apply_has_settled_and_none_after_dispose()
    {
        var time = new FakeTimeProvider(T);
        var trims = 0;
        using var trim = new MemoryTrim(time, NullLogger.Instance, () => trims++);

        trim.Schedule();
        time.Advance(MemoryTrim.SettleDelay - TimeSpan.FromSeconds(1));
        trim.Schedule(); // a reload during the settling: the trim moves after it
        time.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal(0, trims);
        time.Advance(MemoryTrim.SettleDelay);
        Assert.Equal(1, trims);
        time.Advance(MemoryTrim.SettleDelay * 3);
        Assert.Equal(1, trims); // once per settled apply, not periodically

        trim.Schedule();
        trim.Dispose();
        time.Advance(MemoryTrim.SettleDelay * 2);
        Assert.Equal(1, trims);
    }
}
