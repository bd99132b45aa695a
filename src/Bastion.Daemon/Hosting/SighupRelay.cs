using System.Runtime.InteropServices;

namespace Bastion.Daemon.Hosting;

/// <summary>
/// Holds SIGHUP for the whole life of the process and hands each one to whoever listens (the control loop).
/// One that arrives while nobody listens (start-up, shutdown) is remembered and delivered on subscription,
/// instead of SIGHUP's default action ending the process.
/// </summary>
/// <remarks>
/// A SIGHUP the parent left ignored (<c>nohup</c>, some init scripts, a shell's background job under nohup) is taken
/// back first: .NET keeps an inherited SIG_IGN and then never runs the handler, so every reload by signal (what
/// <c>bastionctl reload</c> sends without D-Bus) would be dropped without a word. bastiond never dies of SIGHUP once
/// its handler is in, which is what nohup was for.
/// </remarks>
internal sealed partial class SighupRelay : IDisposable
{
    private const int Sighup = 1;
    private static readonly nint SigIgn = 1;

    private readonly Lock _lock = new();
    private readonly PosixSignalRegistration _registration;
    private Action? _listener;
    private bool _pending;

    private SighupRelay()
    {
        TakeBackIfIgnored();
        _registration = PosixSignalRegistration.Create(PosixSignal.SIGHUP, OnSignal);
    }

    /// <summary>An inherited "ignore SIGHUP" becomes the default disposition, which the registration then replaces.</summary>
    private static unsafe void TakeBackIfIgnored()
    {
        // struct sigaction starts with the handler on every Linux libc; 256 bytes hold the whole struct on all of them.
        var current = stackalloc byte[256];
        if (sigaction(Sighup, null, current) == 0 && *(nint*)current == SigIgn)
        {
            var byDefault = stackalloc byte[256];
            new Span<byte>(byDefault, 256).Clear(); // SIG_DFL, empty mask, no flags
            _ = sigaction(Sighup, byDefault, null);
        }
    }

    [LibraryImport("libc", EntryPoint = "sigaction")]
    private static unsafe partial int sigaction(int signal, byte* action, byte* oldAction);

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
