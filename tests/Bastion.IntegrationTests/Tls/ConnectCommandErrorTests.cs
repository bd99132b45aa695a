using Bastion.IntegrationTests.Cli;

namespace Bastion.IntegrationTests.Tls;

/// <summary>bastionctl connect's own errors: a sentence naming the option, never a stack trace.</summary>
public sealed class ConnectCommandErrorTests
{
    [Fact]
    public async Task A_local_address_that_does_not_resolve_is_named_in_a_clear_error_without_a_stack_trace()
    {
        using var pki = new TestPki();

        var run = await Bastionctl.RunAsync("connect", "127.0.0.1:1", "--local", "nosuch.invalid:0",
            "--cert", pki.Admin.CertificatePath, "--key", pki.Admin.KeyPath, "--ca", pki.CaPath);

        Assert.NotEqual(0, run.ExitCode);
        Assert.Contains("--local: cannot resolve nosuch.invalid", run.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", run.Stderr, StringComparison.Ordinal);
    }
}
