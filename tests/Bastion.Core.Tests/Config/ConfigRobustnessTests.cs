using Bastion.Config;
using static Bastion.Tests.Config.ConfigTestSupport;

namespace Bastion.Tests.Config;

/// <summary>Whatever is in the file, loading answers with a config or errors; it never throws.</summary>
public sealed class ConfigRobustnessTests
{
    [Fact]
    public void Mangled_copies_of_the_example_never_throw()
    {
        var example = File.ReadAllText(ExamplePath());
        var random = new Random(20261122);
        string[] inserts = ["", ":", "- ", "[", "]", "{", "}", "\"", "'", "&a ", "*a", "!!str ", "\t", "\n", "  ", "#", "0", "~", "-1", "\0"];
        for (var i = 0; i < 300; i++)
        {
            var text = example;
            for (var edits = random.Next(1, 4); edits > 0; edits--)
            {
                var at = random.Next(text.Length);
                var cut = random.Next(0, 8);
                text = text[..at] + inserts[random.Next(inserts.Length)] + text[Math.Min(text.Length, at + cut)..];
            }

            var result = ConfigLoader.LoadText(text, ConfigFile, NoFileChecks);

            Assert.True(result.Ok ^ result.Errors.Count > 0);
            Assert.All(result.Errors, e => Assert.True(e.Line >= 1 && e.Column >= 1, e.ToString()));
        }
    }

    [Fact]
    public void A_comment_line_inside_a_flow_list_is_a_syntax_error_even_where_the_yaml_library_throws()
    {
        // YamlDotNet 18.1.0 throws InvalidOperationException here (aaubry/YamlDotNet#541).
        var error = SingleError("paths: [\n# a comment\nstateDir\n");

        Assert.StartsWith($"{ConfigFile}:1:", error, StringComparison.Ordinal);
        Assert.Contains(": invalid YAML", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(100_000)]
    [InlineData(30)]
    public void Deep_nesting_is_an_error_not_a_stack_overflow(int depth)
    {
        var text = "paths: " + new string('[', depth) + new string(']', depth);

        var result = ConfigLoader.LoadText(text, ConfigFile, NoFileChecks);

        Assert.False(result.Ok);
    }

    [Theory]
    [InlineData("hostKey: {ca: \"   \"}")]
    [InlineData("hostKey: {ca: \"@cert-authority * ssh-ed25519 AAAA\"}")]
    [InlineData("hostKey: {fingerprints: [~, \"\"]}")]
    [InlineData("hostKey: [a]")]
    [InlineData("hostKey: \"\"")]
    public void Odd_host_key_values_are_errors(string hostKey)
    {
        var yaml = GoodTunnel.Replace("      hostKey:\n        fingerprints: [SHA256:f+MBIWY78I2QFpPR3dFB27DxF/+3SHAxu+2DvHOv1M8]", "      " + hostKey, StringComparison.Ordinal);

        Assert.NotEmpty(Errors(yaml));
    }
}
