using System.Runtime.InteropServices;

namespace Bastion.Daemon.Hosting;

/// <summary>
/// Holds SIGHUP for the whole life of the process and hands each one to whoever listens (the control loop).
/// One that arrives while nobody listens (start-up, shutdown) is remembered and delivered on subscription,
/// instead of SIGHUP's default action ending the process.
/// </summary>
internal sealed class SighupRelay : IDisposable
{
    private readonly Lock _lock = new();
    private readonly PosixSignalRegistration _registration;
    private Action? _listener;
    private bool _pending;

    private SighupRelay() => _registration = PosixSignalRegistration.Create(PosixSignal.SIGHUP, OnSignal);

    public static SighupRelay Install() => new();

    /// <summary>Sets the one listener (null to stop listening); a signal that came while nobody listened is delivered now.</summary>
    public void Listen(Action? listener)
    {
        bool deliver;
        lock (_lock)
        {
            _listener = listener;
            deliver = listener is not null && _pending;
            _pending &= !deliver;
        }
        if (deliver)
        {
            listener!();
        }
    }

    private void OnSignal(PosixSignalContext context)
    {
        context.Cancel = true; // never the default action (terminate)
        Action? listener;
        lock (_lock)
        {
            listener = _listener;
            _pending |= listener is null;
        }
        listener?.Invoke();
    }

    public void Dispose() => _registration.Dispose();
}
