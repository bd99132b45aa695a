using Bastion.Config;
using Bastion.Supervision;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace Bastion.Tests.Supervision;

/// <summary>A component whose every attempt runs the given script; counts attempts and holds a "connection" while up.</summary>
internal sealed class ScriptedComponent(Func<IComponentContext, int, CancellationToken, Task> script) : IComponent
{
    private int _attempts;

    public int Attempts => Volatile.Read(ref _attempts);
    public FakeConnection? Connection { get; private set; }

    public async Task RunAsync(IComponentContext context, CancellationToken cancellationToken)
    {
        var attempt = Interlocked.Increment(ref _attempts);
        Connection = new FakeConnection();
        try
        {
            await script(context, attempt, cancellationToken);
        }
        finally
        {
            Connection.Close();
        }
    }

    /// <summary>Reports Running and stays up until cancelled.</summary>
    public static ScriptedComponent StaysUp() => new(async (ctx, _, ct) =>
    {
        ctx.ReportRunning("up");
        await Task.Delay(Timeout.Infinite, ct);
    });

    public static ScriptedComponent AlwaysFails(string reason) =>
        new((_, _, _) => throw new ComponentFailureException(reason));
}

internal sealed class FakeConnection
{
    public bool Open { get; private set; } = true;
    public void Close() => Open = false;
}

internal sealed record TestDefinition(string Value);

internal static class Specs
{
    public static readonly BackoffConfig Backoff = new()
    {
        Initial = TimeSpan.FromSeconds(1),
        Max = TimeSpan.FromSeconds(8),
        ResetAfter = TimeSpan.FromSeconds(30),
    };

    public static ComponentSpec Of(string name, string definition, IComponent component, BackoffConfig? backoff = null) =>
        new(new ComponentId("check", name), new TestDefinition(definition), backoff ?? Backoff, () => component);
}

internal static class Wait
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(10);

    /// <summary>Polls a condition in real time (the component runs on the thread pool) with a hard limit.</summary>
    public static async Task UntilAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + Limit;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"timed out after {Limit.TotalSeconds}s waiting for: {what}");
            }
            await Task.Delay(5);
        }
    }

    public static Task ForStateAsync(ComponentSupervisor supervisor, ComponentState state, long starts) =>
        UntilAsync(() => supervisor.State.State == state && supervisor.Starts == starts,
            $"{supervisor.Id} in {state} after {starts} starts (now {supervisor.State.State} after {supervisor.Starts}: {supervisor.State.Reason})");
}

internal static class Clocks
{
    public static FakeTimeProvider Fake() => new(new DateTimeOffset(2026, 11, 23, 0, 0, 0, TimeSpan.Zero));
}

internal static class Supervisors
{
    public static ComponentSupervisor Of(ComponentSpec spec, TimeProvider time, double random = 1.0) =>
        new(spec, time, NullLogger.Instance, () => random);
}
