using System.Runtime.InteropServices;

namespace Bastion.SdBus;

/// <summary>
/// A blocking client connection for one thread (bastionctl): open, call, dispose. Not for a service's loop thread,
/// which must never block in <c>sd_bus_call</c>.
/// </summary>
public sealed unsafe class BusClient : IDisposable
{
    private nint _bus;

    private BusClient(nint bus, BusTarget target)
    {
        _bus = bus;
        Target = target;
    }

    public BusTarget Target { get; }

    /// <summary>Connects, or throws <see cref="BusException"/> (name <see cref="BusErrors.Disconnected"/>) saying why not.</summary>
    public static BusClient Open(BusTarget target) => new(target.Open(), target);

    /// <summary>
    /// Calls a method and returns its reply (dispose it), or throws <see cref="BusException"/> with the error reply's name
    /// and message, or with <see cref="BusErrors.Disconnected"/>/<see cref="BusErrors.NoReply"/> when the bus failed.
    /// </summary>
    public BusReply Call(string destination, string path, string iface, string member, Action<BusMessage>? arguments, TimeSpan timeout)
    {
        ObjectDisposedException.ThrowIf(_bus == 0, this);
        var r = Native.sd_bus_message_new_method_call(_bus, out var call, destination, path, iface, member);
        if (r < 0)
        {
            throw new BusException(BusErrors.Failed, $"cannot build the call {iface}.{member}: {Errno.Describe(-r)}", -r);
        }
        try
        {
            arguments?.Invoke(new BusMessage(call));
            var error = default(SdBusError);
            r = Native.sd_bus_call(_bus, call, (ulong)timeout.TotalMicroseconds, &error, out var reply);
            try
            {
                if (r < 0)
                {
                    var name = Marshal.PtrToStringUTF8(error.Name);
                    var message = Marshal.PtrToStringUTF8(error.Message);
                    throw name is null
                        ? new BusException(r == -110 ? BusErrors.NoReply : BusErrors.Disconnected,
                            $"{iface}.{member} on {Target}: {Errno.Describe(-r)}", -r)
                        : new BusException(name, message ?? name, -r);
                }
            }
            finally
            {
                Native.sd_bus_error_free(&error);
            }
            return new BusReply(reply);
        }
        finally
        {
            Native.sd_bus_message_unref(call);
        }
    }

    public void Dispose()
    {
        if (_bus != 0)
        {
            Native.sd_bus_flush_close_unref(_bus);
            _bus = 0;
        }
    }
}

/// <summary>A method reply; read it through <see cref="Message"/> before disposing.</summary>
public sealed class BusReply : IDisposable
{
    private nint _message;

    internal BusReply(nint message) => _message = message;

    public BusMessage Message => _message != 0 ? new BusMessage(_message) : throw new ObjectDisposedException(nameof(BusReply));

    public void Dispose()
    {
        if (_message != 0)
        {
            Native.sd_bus_message_unref(_message);
            _message = 0;
        }
    }
}
