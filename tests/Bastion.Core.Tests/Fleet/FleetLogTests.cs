using Bastion.Fleet;
using Microsoft.Extensions.Logging;

namespace Bastion.Tests.Fleet;

public sealed class FleetLogTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 6, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public void A_refused_command_is_one_SECURITY_line_with_outcome_and_signer_fingerprint_and_no_secret()
    {
        using var admin = Ed25519PrivateKey.Generate();
        using var stranger = Ed25519PrivateKey.Generate();
        using var node = Ed25519PrivateKey.Generate();
        var signers = AllowedSigners.Parse($"alice@example.org {admin.PublicKey}", "f").Signers!;
        var command = FleetCommand.Create("web1", "vnc", ["start"], Now, TimeSpan.FromMinutes(5));
        var opened = FleetSeal.OpenCommand(FleetSeal.SealCommand(command, stranger, node.PublicKey), "web1", node, signers, new FleetSealTests.MemoryReplayGuard(), Now);
        var logger = new LineLogger();

        FleetLog.Command(logger, opened);

        var (level, id, text) = Assert.Single(logger.Lines);
        Assert.Equal(LogLevel.Warning, level);
        Assert.Equal(LogEvents.FleetMessageRefused, id);
        Assert.Equal($"SECURITY fleet: command refused: UnknownSigner (key not in allowed_signers); signer {stranger.PublicKey.Fingerprint}; not executed", text);
        Assert.DoesNotContain(Convert.ToHexString(command.Nonce), text, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void An_accepted_command_names_the_command_and_its_signer()
    {
        using var admin = Ed25519PrivateKey.Generate();
        using var node = Ed25519PrivateKey.Generate();
        var signers = AllowedSigners.Parse($"alice@example.org {admin.PublicKey}", "f").Signers!;
        var command = FleetCommand.Create("web1", "reload", [], Now, TimeSpan.FromMinutes(5));
        var opened = FleetSeal.OpenCommand(FleetSeal.SealCommand(command, admin, node.PublicKey), "web1", node, signers, new FleetSealTests.MemoryReplayGuard(), Now);
        var logger = new LineLogger();

        FleetLog.Command(logger, opened);

        Assert.Equal($"fleet: command 'reload' accepted, signed by {admin.PublicKey.Fingerprint} (alice@example.org)", Assert.Single(logger.Lines).Text);
    }

    private sealed class LineLogger : ILogger
    {
        public List<(LogLevel Level, int Id, string Text)> Lines { get; } = [];

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Lines.Add((logLevel, eventId.Id, formatter(state, exception)));
    }
}
