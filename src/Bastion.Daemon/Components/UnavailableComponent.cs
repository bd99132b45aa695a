using Bastion.Supervision;

namespace Bastion.Daemon.Components;

/// <summary>
/// Stands for a configured component whose kind this version cannot run yet: the config is accepted
/// (so it can be written and checked ahead of an upgrade) and status says plainly that nothing runs.
/// </summary>
public sealed class UnavailableComponent(string reason) : IComponent
{
    public async Task RunAsync(IComponentContext context, CancellationToken cancellationToken)
    {
        context.ReportFailed(reason);
        await Task.Delay(Timeout.InfiniteTimeSpan, context.Time, cancellationToken).ConfigureAwait(false);
    }
}
