using Bastion.Ssh;

namespace Bastion.Tests.Ssh;

/// <summary>OpenSSH's glob (match.c match_pattern), shared by allowed_signers and known_hosts.</summary>
public sealed class SshPatternsTests
{
    [Theory]
    [InlineData("a@b", "a@b", true)]
    [InlineData("a@b", "*", true)]
    [InlineData("", "*", true)]
    [InlineData("abc", "a*c", true)]
    [InlineData("abc", "a*b", false)]
    [InlineData("aXbXc", "a*b*c", true)]
    [InlineData("abc", "???", true)]
    [InlineData("abcd", "???", false)]
    [InlineData("a*c", "a\\*c", false)]
    public void Globs_match_as_OpenSSH_does(string value, string pattern, bool expected)
    {
        Assert.Equal(expected, SshPatterns.Match(value, pattern));
    }

    [Theory]
    [InlineData("*ab", "*b", true)]
    [InlineData("*ab", "*a", false)]
    [InlineData("x*y", "x*y", true)]
    [InlineData("**", "*", true)]
    public void A_star_in_the_value_is_an_ordinary_character_while_a_star_in_the_pattern_is_always_a_wildcard(string value, string pattern, bool expected)
    {
        // match_pattern tests the pattern for '*' before comparing characters: "*b" matches "*ab" as it matches "zab".
        Assert.Equal(expected, SshPatterns.Match(value, pattern));
        Assert.Equal(expected, SshPatterns.Match(value.Replace('*', 'z'), pattern));
    }

    [Theory]
    [InlineData("gw.example.org", "*.example.org")]
    [InlineData("gw1.example.org", "gw?.example.org")]
    [InlineData("gw.example.org", "gw?.example.org")]
    [InlineData("[gw.example.org]:2222", "[*.example.org]:*")]
    [InlineData("[gw.example.org]:2222", "[gw.example.org]:22")]
    [InlineData("10.0.0.1", "10.0.0.*")]
    [InlineData("10.0.0.1", "10.0.0.1?")]
    [InlineData("*ab", "*b")]
    public void A_known_hosts_pattern_matches_a_host_exactly_when_the_shared_glob_does(string name, string pattern)
    {
        var glob = SshPatterns.Match(name, pattern);
        Assert.Equal(glob, KnownHosts.Matches(pattern, name));
        Assert.Equal(glob, KnownHosts.Matches("other.example.net," + pattern, name));
        // A negated pattern that matches refuses the whole list, whatever else matches.
        Assert.Equal(!glob, KnownHosts.Matches("*,!" + pattern, name));
    }

    [Fact]
    public void A_list_is_refused_by_a_matching_negation_or_by_an_overlong_pattern()
    {
        Assert.Equal(SshPatterns.ListMatch.Match, SshPatterns.MatchList("alice@example.org", "bob@*,alice@*"));
        Assert.Equal(SshPatterns.ListMatch.NegatedMatch, SshPatterns.MatchList("alice@example.org", "*@example.org,!alice@*"));
        Assert.Equal(SshPatterns.ListMatch.NoMatch, SshPatterns.MatchList("alice@example.org", "bob@*,!carol@*"));
        Assert.Equal(SshPatterns.ListMatch.NoMatch, SshPatterns.MatchList("alice@example.org", "alice@*," + new string('*', 1024)));
        Assert.Equal(SshPatterns.ListMatch.Match, SshPatterns.MatchList("alice@example.org", "alice@*," + new string('*', 1023)));
    }
}
