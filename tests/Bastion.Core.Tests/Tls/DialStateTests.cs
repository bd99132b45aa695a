using Bastion.Tls;
using Microsoft.Extensions.Time.Testing;

namespace Bastion.Tests.Tls;

public sealed class DialStateTests
{
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 12, 6, 22, 0, 0, TimeSpan.Zero));

    private DialState State(int maxSessions = 3) => new("admin.example:8443", TimeSpan.FromSeconds(30), maxSessions, _time);

    [Fact]
    public void Nobody_listening_is_dialing_since_the_first_refusal_with_the_attempt_count_rising()
    {
        var state = State();
        Assert.Equal(DialPhase.Starting, state.Phase);
        for (var i = 1; i <= 5; i++)
        {
            Assert.True(state.TryBeginAttempt());
            var first = state.Record(DialOutcome.NoListener);
            Assert.Equal(i == 1, first); // only the first of a streak is worth a log line
            Assert.Equal(DialPhase.Dialing, state.Phase);
            Assert.Equal(0, state.Open);
            Assert.Equal(
                $"dialing: no listener at admin.example:8443 since 2026-12-06T22:00:00Z, attempt {i} (every 30s)",
                state.Describe());
            _time.Advance(TimeSpan.FromSeconds(30));
        }
        Assert.Equal(5, state.Attempts);
    }

    [Fact]
    public void A_new_outcome_restarts_the_since_time_and_is_worth_a_log_line()
    {
        var state = State();
        state.TryBeginAttempt();
        state.Record(DialOutcome.NoListener);
        _time.Advance(TimeSpan.FromMinutes(2));
        state.TryBeginAttempt();
        Assert.True(state.Record(DialOutcome.NoAnswer));
        Assert.Contains("no answer from admin.example:8443 since 2026-12-06T22:02:00Z, attempt 2", state.Describe(), StringComparison.Ordinal);
        state.TryBeginAttempt();
        Assert.False(state.Record(DialOutcome.NoAnswer));
    }

    [Fact]
    public void Open_sessions_keep_the_endpoint_dialling_until_the_limit_and_skips_at_the_limit_are_counted()
    {
        var state = State(maxSessions: 2);
        Assert.True(state.TryBeginAttempt());
        state.Record(DialOutcome.SessionOpened);
        Assert.Equal(DialPhase.Connected, state.Phase);
        Assert.StartsWith("connected: 1 session open with admin.example:8443 (at most 2); still dialling every 30s", state.Describe(), StringComparison.Ordinal);

        Assert.True(state.TryBeginAttempt()); // a session is open, yet the next listener is dialled
        Assert.Equal(DialPhase.AtLimit, state.Phase); // the second slot is taken while it handshakes
        state.Record(DialOutcome.SessionOpened);
        Assert.Equal(2, state.Sessions);
        Assert.Equal(DialPhase.AtLimit, state.Phase);
        Assert.Equal("connected: 2 sessions open with admin.example:8443, the limit (maxSessions 2): not dialling until one closes", state.Describe());

        Assert.False(state.TryBeginAttempt());
        Assert.False(state.TryBeginAttempt());
        Assert.Equal(2, state.SkippedAtLimit);
        Assert.Equal(2, state.Attempts);

        state.SessionClosed();
        Assert.Equal(DialPhase.Connected, state.Phase);
        Assert.True(state.TryBeginAttempt());
        state.Record(DialOutcome.ListenerSilent);
        Assert.Equal(1, state.Open);
        state.SessionClosed();
        Assert.Equal(DialPhase.Dialing, state.Phase);
        Assert.StartsWith("dialing: the listener at admin.example:8443 started no TLS handshake", state.Describe(), StringComparison.Ordinal);
        Assert.Equal(2, state.SessionsOpened);
    }

    [Fact]
    public void A_failed_attempt_frees_its_slot_so_failures_never_reach_the_limit()
    {
        var state = State(maxSessions: 1);
        for (var i = 0; i < 10; i++)
        {
            Assert.True(state.TryBeginAttempt());
            state.Record(i % 2 == 0 ? DialOutcome.ListenerRefused : DialOutcome.Unreachable, "x");
        }
        Assert.Equal(0, state.Open);
        Assert.Equal(0, state.SkippedAtLimit);
        Assert.Equal(DialPhase.Dialing, state.Phase);
    }

    [Fact]
    public void Closing_more_sessions_than_were_opened_never_goes_negative()
    {
        var state = State();
        state.SessionClosed();
        Assert.Equal(0, state.Open);
        Assert.Equal(DialPhase.Starting, state.Phase);
    }

    [Fact]
    public void A_reload_raises_the_limit_and_changes_the_interval_while_the_open_sessions_stay()
    {
        var state = State(maxSessions: 1);
        Assert.True(state.TryBeginAttempt());
        state.Record(DialOutcome.SessionOpened);
        Assert.False(state.TryBeginAttempt());
        Assert.Equal(DialPhase.AtLimit, state.Phase);

        state.Reconfigure(TimeSpan.FromSeconds(5), maxSessions: 2);

        Assert.Equal(1, state.Sessions);
        Assert.Equal(TimeSpan.FromSeconds(5), state.Interval);
        Assert.Equal(DialPhase.Connected, state.Phase);
        Assert.Equal("connected: 1 session open with admin.example:8443 (at most 2); still dialling every 5s, attempt 1", state.Describe());
        Assert.True(state.TryBeginAttempt());
        state.Record(DialOutcome.SessionOpened);
        Assert.False(state.TryBeginAttempt());

        state.Reconfigure(TimeSpan.FromSeconds(5), maxSessions: 1); // lowered: nothing is cut, no new dial until below it
        Assert.Equal(2, state.Sessions);
        state.SessionClosed();
        Assert.False(state.TryBeginAttempt());
        state.SessionClosed();
        Assert.True(state.TryBeginAttempt());
    }
}
