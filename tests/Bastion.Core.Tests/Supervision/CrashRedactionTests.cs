using Bastion.Supervision;
using Microsoft.Extensions.Logging;

namespace Bastion.Tests.Supervision;

public sealed class CrashRedactionTests
{
    // 48 characters of an onion key's base64, as an ArgumentException once quoted it.
    private const string Secret = "wJx4Zk9Qm2Rt7Lp0Vb3Nc8Hd5Fg1Ys6Ue+Ai/Oq4Wr9Tz2Kx";

    [Fact]
    public async Task A_crash_whose_message_quotes_a_secret_shows_only_the_exception_type_in_status_and_never_the_secret_in_any_log()
    {
        var time = Clocks.Fake();
        var logger = new CapturingLogger();
        var component = new ScriptedComponent((_, _, _) => throw new ArgumentException($"'ED25519-V3:{Secret}' cannot be one word"));
        using var supervisor = new ComponentSupervisor(Specs.Of("a", "x", component), time, logger, () => 1.0);
        supervisor.Start();
        await Wait.ForStateAsync(supervisor, ComponentState.Backoff, 1);

        Assert.Equal("crashed: ArgumentException (details in the debug log); retrying in 1s", supervisor.State.Reason);
        Assert.Contains(logger.Lines, l => l.Level == LogLevel.Error && l.Text.Contains("attempt crashed with ArgumentException", StringComparison.Ordinal));
        var details = Assert.Single(logger.Lines, l => l.Level == LogLevel.Debug && l.Text.Contains("crash details", StringComparison.Ordinal));
        Assert.Contains("[redacted 48 chars]", details.Text, StringComparison.Ordinal);
        Assert.All(logger.Lines, l => Assert.DoesNotContain(Secret[..20], l.Text, StringComparison.Ordinal));
        Assert.All(logger.Lines, l => Assert.Null(l.Exception));
        await supervisor.StopAsync("test over", TimeSpan.FromSeconds(5)).WaitAsync(TimeSpan.FromSeconds(10));
    }

    [Theory]
    [InlineData("tor refused ADD_ONION: 512 Invalid key", "tor refused ADD_ONION: 512 Invalid key")]
    [InlineData("/work/wt/onion/src/Bastion.Core/Supervision/ComponentSupervisor.cs:line 190", "/work/wt/onion/src/Bastion.Core/Supervision/ComponentSupervisor.cs:line 190")]
    [InlineData("at Bastion.Daemon.Tor.OnionServiceComponent.RunInSessionAsync()", "at Bastion.Daemon.Tor.OnionServiceComponent.RunInSessionAsync()")]
    [InlineData("cookie 0123456789ABCDEF0123456789ABCDEF was wrong", "cookie [redacted 32 chars] was wrong")]
    [InlineData("key: " + Secret, "key: [redacted 48 chars]")]
    public void Redaction_blanks_key_like_runs_and_keeps_words_paths_and_method_names(string text, string expected) =>
        Assert.Equal(expected, SecretRedaction.Redact(text));

    private sealed class CapturingLogger : ILogger
    {
        private readonly Lock _lock = new();
        private readonly List<(LogLevel Level, string Text, Exception? Exception)> _lines = [];

        public IReadOnlyList<(LogLevel Level, string Text, Exception? Exception)> Lines
        {
            get
            {
                lock (_lock)
                {
                    return [.. _lines];
                }
            }
        }

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (_lock)
            {
                _lines.Add((logLevel, formatter(state, exception), exception));
            }
        }
    }
}
