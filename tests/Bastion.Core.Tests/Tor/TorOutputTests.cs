using Bastion.Tor;

namespace Bastion.Tests.Tor;

public sealed class TorOutputTests
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 6, 20, 0, 0, TimeSpan.Zero);

    [Theory]
    [InlineData(137, "[warn] No available nodes when trying to choose node. Failing.", "tor was killed by signal 9 (SIGKILL)")]
    [InlineData(143, null, "tor was killed by signal 15 (SIGTERM)")]
    [InlineData(134, null, "tor was killed by signal 6 (SIGABRT)")]
    [InlineData(1, "[err] Reading config failed--see warnings above.", "tor exited with code 1: [err] Reading config failed--see warnings above.")]
    [InlineData(0, null, "tor exited with code 0 (no error in its log)")]
    public void A_signal_is_named_and_only_an_error_line_is_quoted_as_the_cause(int code, string? lastError, string expected)
    {
        // A SIGKILL's reason never quotes a warning, whatever tor last said.
        var why = TorExit.Describe(code, code > 128 ? lastError : lastError);
        Assert.Equal(expected, why);
        if (code > 128)
        {
            Assert.DoesNotContain("No available nodes", why, StringComparison.Ordinal);
        }
    }
}
