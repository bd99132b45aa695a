using Bastion.Tls;
using Microsoft.Extensions.Time.Testing;

namespace Bastion.Tests.Tls;

/// <summary>The endpoint's handshake deadlines run on its TimeProvider: a fake clock decides when they pass.</summary>
public sealed class DeadlineTests
{
    [Fact]
    public void The_deadline_passes_on_the_fake_clock_and_only_then()
    {
        var time = new FakeTimeProvider();
        using var deadline = new Deadline(TimeSpan.FromSeconds(5), time, CancellationToken.None);

        time.Advance(TimeSpan.FromSeconds(4.9));
        Assert.False(deadline.Token.IsCancellationRequested);
        time.Advance(TimeSpan.FromSeconds(0.1));
        Assert.True(deadline.Token.IsCancellationRequested);
        Assert.True(deadline.TimedOut);
    }

    [Fact]
    public void A_restart_moves_the_deadline_from_now()
    {
        var time = new FakeTimeProvider();
        using var deadline = new Deadline(TimeSpan.FromSeconds(5), time, CancellationToken.None);
        time.Advance(TimeSpan.FromSeconds(4));

        deadline.Restart(TimeSpan.FromSeconds(60)); // the viewer asks its user for the password

        time.Advance(TimeSpan.FromSeconds(59));
        Assert.False(deadline.Token.IsCancellationRequested);
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.True(deadline.TimedOut);
    }

    [Fact]
    public void A_linked_token_ends_it_early_and_is_not_a_timeout()
    {
        var time = new FakeTimeProvider();
        using var stop = new CancellationTokenSource();
        using var evicted = new CancellationTokenSource();
        using var deadline = new Deadline(TimeSpan.FromSeconds(5), time, stop.Token, evicted.Token);

        evicted.Cancel();

        Assert.True(deadline.Token.IsCancellationRequested);
        Assert.False(deadline.TimedOut);
    }
}
