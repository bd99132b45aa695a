using Bastion.Config;

namespace Bastion.Tests.Config;

public sealed class SuggestionsTests
{
    [Theory]
    [InlineData("statedir", "stateDir")]      // case only
    [InlineData("stateDri", "stateDir")]      // a swap is one edit
    [InlineData("runtimDir", "runtimeDir")]   // one letter missing
    [InlineData("runtmeDri", "runtimeDir")]   // two edits on a long word
    [InlineData("hots", "host")]
    [InlineData("p384", "ecdsa-p384")]        // the only candidate containing it
    public void Near_misses_are_suggested(string written, string expected)
    {
        string[] candidates = ["stateDir", "runtimeDir", "host", "port", "ecdsa-p256", "ecdsa-p384"];

        Assert.Equal(expected, Suggestions.Closest(written, candidates));
    }

    [Theory]
    [InlineData("prt0")]     // two edits on a short word: too far
    [InlineData("colour")]
    [InlineData("dir")]      // contained in two candidates
    public void Far_misses_get_no_suggestion(string written)
    {
        string[] candidates = ["stateDir", "runtimeDir", "port", "format"];

        Assert.Null(Suggestions.Closest(written, candidates));
    }
}
