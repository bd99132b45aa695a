using Bastion.Config;

namespace Bastion.Supervision;

/// <summary>
/// Exponential backoff with full jitter: the n-th retry waits a uniformly random time in
/// [floor, min(max, initial·2ⁿ)]. The floor (100 ms, or <c>initial</c> if smaller) keeps a run of
/// unlucky draws from becoming a tight retry loop; everything above it is full jitter, so many components
/// failing together (the network came back) do not retry in lockstep.
/// </summary>
public sealed class BackoffPolicy
{
    private static readonly TimeSpan Floor = TimeSpan.FromMilliseconds(100);
    private readonly Func<double> _random;

    public BackoffPolicy(BackoffConfig config, Func<double>? random = null)
    {
        Config = config;
        _random = random ?? Random.Shared.NextDouble;
    }

    public BackoffConfig Config { get; }

    /// <summary>The upper bound of the delay before retry number <paramref name="attempt"/> (0-based).</summary>
    public TimeSpan Ceiling(int attempt)
    {
        var initial = Config.Initial.Ticks;
        var max = Config.Max.Ticks;
        // Doubling overflows long after it passes any sane cap; stop doubling once past it.
        var ceiling = initial;
        for (var i = 0; i < attempt && ceiling < max; i++)
        {
            ceiling *= 2;
        }
        return TimeSpan.FromTicks(Math.Min(ceiling, max));
    }

    /// <summary>The jittered delay before retry number <paramref name="attempt"/> (0-based).</summary>
    public TimeSpan NextDelay(int attempt)
    {
        var ceiling = Ceiling(attempt);
        var floor = Floor < Config.Initial ? Floor : Config.Initial;
        if (ceiling <= floor)
        {
            return ceiling;
        }
        var r = Math.Clamp(_random(), 0.0, 1.0);
        return floor + TimeSpan.FromTicks((long)((ceiling - floor).Ticks * r));
    }

    /// <summary>Whether a run that stayed up for <paramref name="upFor"/> earns a reset of the attempt count.</summary>
    public bool EarnsReset(TimeSpan upFor) => upFor >= Config.ResetAfter;
}
