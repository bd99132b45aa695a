namespace Bastion.Tls;

/// <summary>
/// A cancellation deadline on a <see cref="TimeProvider"/> (the endpoint's own clock; tests use a fake one), linked to the
/// tokens that may end the wait earlier (a stop, a handshake giving way). <see cref="Restart"/> moves the deadline (a
/// protocol step that may wait longer, e.g. for a password); <see cref="TimedOut"/> tells the deadline from the others.
/// </summary>
public sealed class Deadline : IDisposable
{
    private readonly CancellationTokenSource _timer;
    private readonly CancellationTokenSource _linked;

    public Deadline(TimeSpan after, TimeProvider time, CancellationToken cancellationToken, CancellationToken other = default)
    {
        _timer = new CancellationTokenSource(after, time);
        _linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, other, _timer.Token);
    }

    public CancellationToken Token => _linked.Token;

    /// <summary>Whether the deadline itself passed (rather than a linked token being cancelled).</summary>
    public bool TimedOut => _timer.IsCancellationRequested;

    /// <summary>The deadline is now <paramref name="after"/> from now (ignored once it has passed).</summary>
    public void Restart(TimeSpan after) => _timer.CancelAfter(after);

    public void Dispose()
    {
        _linked.Dispose();
        _timer.Dispose();
    }
}
