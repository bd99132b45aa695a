using NATS.Client.Core;

namespace Bastion.Cli;

/// <summary>
/// Disposes a NATS connection or subscription without letting a broker that misbehaved (or vanished) turn the goodbye
/// into an exception: the command's own outcome — its message and exit code — is what the admin must see.
/// </summary>
internal sealed class QuietDisposal(IAsyncDisposable inner) : IAsyncDisposable
{
    public async ValueTask DisposeAsync()
    {
        try
        {
            await inner.DisposeAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (e is NatsException or TimeoutException or OperationCanceledException)
        {
            // unsubscribing or draining from a broker that cut us off or does not answer: nothing left to do
        }
    }
}
