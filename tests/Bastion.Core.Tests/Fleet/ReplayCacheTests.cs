using Bastion.Fleet;
using Microsoft.Extensions.Time.Testing;

namespace Bastion.Tests.Fleet;

public sealed class ReplayCacheTests : IDisposable
{
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 12, 6, 12, 0, 0, TimeSpan.Zero));
    private readonly string _dir = Directory.CreateTempSubdirectory("bastion-replay-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string CachePath => Path.Combine(_dir, "state", "fleet", "replay");

    private static byte[] Nonce(int i) => [.. Enumerable.Repeat((byte)i, 16)];

    [Fact]
    public void A_nonce_is_fresh_once_then_replayed_until_its_command_expires_then_forgotten()
    {
        var cache = new ReplayCache(CachePath, _time);
        var expires = _time.GetUtcNow().AddMinutes(10);

        Assert.Equal(ReplayVerdict.Fresh, cache.TryAccept(Nonce(1), expires));
        Assert.Equal(ReplayVerdict.Replayed, cache.TryAccept(Nonce(1), expires));
        _time.Advance(TimeSpan.FromMinutes(10));
        Assert.Equal(ReplayVerdict.Replayed, cache.TryAccept(Nonce(1), expires));
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(0, cache.Count);
    }

    [Fact]
    public void A_restart_remembers_the_accepted_nonces_so_the_window_does_not_reopen()
    {
        var first = new ReplayCache(CachePath, _time);
        first.TryAccept(Nonce(1), _time.GetUtcNow().AddMinutes(10));
        first.TryAccept(Nonce(2), _time.GetUtcNow().AddMinutes(1));
        Assert.True(first.Persisted, first.PersistError);
        _time.Advance(TimeSpan.FromMinutes(5));

        var restarted = new ReplayCache(CachePath, _time);

        Assert.Equal(ReplayVerdict.Replayed, restarted.TryAccept(Nonce(1), _time.GetUtcNow().AddMinutes(5)));
        Assert.Equal(1, restarted.Count); // nonce 2 expired while the daemon was down
    }

    [Fact]
    public void The_cache_file_is_private_and_in_a_private_directory()
    {
        var cache = new ReplayCache(CachePath, _time);
        cache.TryAccept(Nonce(1), _time.GetUtcNow().AddMinutes(10));

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(CachePath));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(Path.GetDirectoryName(CachePath)!));
    }

    [Fact]
    public void When_full_of_unexpired_nonces_new_commands_are_refused_and_room_returns_as_they_expire()
    {
        var cache = new ReplayCache(CachePath, _time, capacity: 3);
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(ReplayVerdict.Fresh, cache.TryAccept(Nonce(i), _time.GetUtcNow().AddMinutes(i + 1)));
        }

        Assert.Equal(ReplayVerdict.Full, cache.TryAccept(Nonce(9), _time.GetUtcNow().AddMinutes(10)));
        Assert.Equal(ReplayVerdict.Replayed, cache.TryAccept(Nonce(0), _time.GetUtcNow().AddMinutes(1)));
        _time.Advance(TimeSpan.FromSeconds(61));
        Assert.Equal(ReplayVerdict.Fresh, cache.TryAccept(Nonce(9), _time.GetUtcNow().AddMinutes(10)));
    }

    [Fact]
    public void A_corrupt_or_foreign_cache_file_is_ignored_line_by_line_without_crashing()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(CachePath)!);
        var expires = _time.GetUtcNow().AddMinutes(5).ToUnixTimeSeconds();
        File.WriteAllText(CachePath, $"bastion-fleet-replay v1\n{expires} {Convert.ToHexStringLower(Nonce(1))}\ngarbage\n{expires} XYZ\n-5 {Convert.ToHexStringLower(Nonce(2))}\n");

        var cache = new ReplayCache(CachePath, _time);

        Assert.Equal(1, cache.Count);
        Assert.Equal(ReplayVerdict.Replayed, cache.TryAccept(Nonce(1), _time.GetUtcNow().AddMinutes(5)));
    }

    [Fact]
    public void A_write_failure_keeps_the_nonce_in_memory_and_says_why()
    {
        var blocked = Path.Combine(_dir, "file-not-dir");
        File.WriteAllText(blocked, "");
        var cache = new ReplayCache(Path.Combine(blocked, "replay"), _time);

        Assert.Equal(ReplayVerdict.Fresh, cache.TryAccept(Nonce(1), _time.GetUtcNow().AddMinutes(5)));

        Assert.False(cache.Persisted);
        Assert.NotNull(cache.PersistError);
        Assert.Equal(ReplayVerdict.Replayed, cache.TryAccept(Nonce(1), _time.GetUtcNow().AddMinutes(5)));
    }

    [Fact]
    public void An_envelope_replayed_after_a_restart_is_refused_as_replayed()
    {
        using var admin = Ed25519PrivateKey.Generate();
        using var node = Ed25519PrivateKey.Generate();
        var signers = AllowedSigners.Parse($"alice {admin.PublicKey}", "f").Signers!;
        var envelope = FleetSeal.SealCommand(FleetCommand.Create("web1", "reload", [], _time.GetUtcNow(), TimeSpan.FromMinutes(15)), admin, node.PublicKey);

        Assert.Equal(FleetOutcome.Accepted, FleetSeal.OpenCommand(envelope, "web1", node, signers, new ReplayCache(CachePath, _time), _time.GetUtcNow()).Outcome);
        _time.Advance(TimeSpan.FromMinutes(14));
        Assert.Equal(FleetOutcome.Replayed, FleetSeal.OpenCommand(envelope, "web1", node, signers, new ReplayCache(CachePath, _time), _time.GetUtcNow()).Outcome);
    }
}
