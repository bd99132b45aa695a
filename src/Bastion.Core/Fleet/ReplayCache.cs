using System.Globalization;
using System.Text;
using Bastion.IO;

namespace Bastion.Fleet;

/// <summary>
/// The nonces of accepted fleet commands, each kept until its command expires (at most 15 minutes), persisted in the
/// state directory after every accept (AtomicFile: old or new file, never half) so a restart — even SIGKILL — does not
/// reopen the replay window. Bounded: when full of unexpired nonces it refuses new commands rather than forget one.
/// Only authenticated commands reach it (the signature is checked first), so only admins can fill it.
/// </summary>
public sealed class ReplayCache : IReplayGuard
{
    public const int DefaultCapacity = 4096;
    private const string Header = "bastion-fleet-replay v1";
    private readonly Lock _gate = new();
    private readonly Dictionary<string, DateTimeOffset> _nonces = new(StringComparer.Ordinal);
    private readonly string _path;
    private readonly TimeProvider _time;
    private readonly int _capacity;

    /// <summary>Loads <paramref name="path"/> if it exists (expired and unreadable lines are dropped).</summary>
    public ReplayCache(string path, TimeProvider time, int capacity = DefaultCapacity)
    {
        ArgumentNullException.ThrowIfNull(time);
        _path = path;
        _time = time;
        _capacity = capacity;
        Load();
    }

    /// <summary>False after a failed write (the nonce is still remembered in memory); for a warning, not a refusal.</summary>
    public bool Persisted { get; private set; } = true;

    /// <summary>Why the last write failed (an I/O message; no nonce or key), or null.</summary>
    public string? PersistError { get; private set; }

    public int Count
    {
        get
        {
            lock (_gate)
            {
                Purge(_time.GetUtcNow());
                return _nonces.Count;
            }
        }
    }

    public ReplayVerdict TryAccept(ReadOnlySpan<byte> nonce, DateTimeOffset expiresAt)
    {
        var key = Convert.ToHexStringLower(nonce);
        lock (_gate)
        {
            Purge(_time.GetUtcNow());
            if (_nonces.ContainsKey(key))
            {
                return ReplayVerdict.Replayed;
            }
            if (_nonces.Count >= _capacity)
            {
                return ReplayVerdict.Full;
            }
            _nonces[key] = DateTimeOffset.FromUnixTimeSeconds(expiresAt.ToUnixTimeSeconds());
            Save();
            return ReplayVerdict.Fresh;
        }
    }

    /// <summary>A nonce is kept while now ≤ its command's expiry: until then the command itself would still be valid.</summary>
    private void Purge(DateTimeOffset now)
    {
        foreach (var (key, expires) in _nonces)
        {
            if (expires < now)
            {
                _nonces.Remove(key);
            }
        }
    }

    private void Save()
    {
        var text = new StringBuilder(Header).Append('\n');
        foreach (var (key, expires) in _nonces)
        {
            text.Append(expires.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture)).Append(' ').Append(key).Append('\n');
        }
        try
        {
            AtomicFile.EnsurePrivateDirectory(Path.GetDirectoryName(Path.GetFullPath(_path)) ?? "/");
            AtomicFile.Write(_path, Encoding.ASCII.GetBytes(text.ToString()), AtomicFile.Private);
            Persisted = true;
            PersistError = null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Persisted = false;
            PersistError = e.Message;
        }
    }

    private void Load()
    {
        string[] lines;
        try
        {
            var info = new FileInfo(_path);
            if (!info.Exists || info.Length > (_capacity + 1) * 160L)
            {
                return;
            }
            lines = File.ReadAllLines(_path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Persisted = false;
            PersistError = e.Message;
            return;
        }
        if (lines.Length == 0 || lines[0] != Header)
        {
            return;
        }
        var now = _time.GetUtcNow();
        foreach (var line in lines.Skip(1))
        {
            var parts = line.Split(' ');
            if (parts.Length == 2
                && long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var seconds)
                && seconds is >= 0 and <= 253402300799
                && parts[1].Length is >= 2 * FleetCommand.MinNonce and <= 2 * FleetCommand.MaxNonce
                && parts[1].All(char.IsAsciiHexDigitLower)
                && _nonces.Count < _capacity)
            {
                var expires = DateTimeOffset.FromUnixTimeSeconds(seconds);
                if (expires >= now)
                {
                    _nonces[parts[1]] = expires;
                }
            }
        }
    }
}
