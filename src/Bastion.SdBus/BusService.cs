using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Bastion.SdBus;

/// <summary>
/// Exports one object with one interface under a well-known name, on a dedicated thread that alone touches the sd-bus
/// connection (sd-bus is not thread-safe). Other threads hand it work with <see cref="Post"/>, which wakes the thread through
/// an eventfd polled together with the bus fd. When the bus goes away (sd_bus_process fails, e.g. ECONNRESET after
/// dbus-daemon died) the connection is freed and re-opened with <see cref="ReconnectBackoff"/>, the object re-added and the
/// name re-requested; <see cref="IBusObject.Connected"/> then announces the current state. Signals posted while there is
/// no connection are dropped, not queued: after an outage the current state counts, not a backlog of old transitions.
/// </summary>
public sealed unsafe class BusService : IDisposable
{
    private readonly BusTarget _target;
    private readonly string _name;
    private readonly string _path;
    private readonly InterfaceDescription _interface;
    private readonly IBusObject _object;
    private readonly IBusObserver _observer;
    private readonly ConcurrentQueue<Action<BusSender>> _work = new();
    private readonly TaskCompletionSource<bool> _firstAttempt = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly BusSender _sender;
    private readonly int _wakeFd;
    private GCHandle _self;
    private VTable? _vtable;
    private Thread? _thread;
    private readonly Lock _workGate = new();
    private volatile bool _stopping;
    private bool _closed; // under _workGate: the last work has run, nothing more will
    private int _disposed;

    public BusService(BusTarget target, string name, string path, InterfaceDescription description, IBusObject obj, IBusObserver observer)
    {
        _target = target;
        _name = name;
        _path = path;
        _interface = description;
        _object = obj;
        _observer = observer;
        _sender = new BusSender(this);
        _wakeFd = Native.eventfd(0, Native.EfdCloexec | Native.EfdNonblock);
        if (_wakeFd < 0)
        {
            throw new BusException(BusErrors.Failed, $"eventfd: {Errno.Describe(Marshal.GetLastPInvokeError())}");
        }
        _self = GCHandle.Alloc(this);
        _vtable = new VTable(description,
            (nint)(delegate* unmanaged<nint, nint, SdBusError*, int>)&OnMethod,
            (nint)(delegate* unmanaged<nint, nint, nint, nint, nint, nint, SdBusError*, int>)&OnGetProperty);
    }

    /// <summary>Completes with whether the first connection attempt succeeded (later attempts go on either way).</summary>
    public Task<bool> FirstAttempt => _firstAttempt.Task;

    /// <summary>The connection, on the service's thread only; 0 while disconnected.</summary>
    internal nint CurrentBus { get; private set; }

    public void Start()
    {
        _thread = new Thread(Run) { IsBackground = true, Name = "sd-bus " + _name };
        _thread.Start();
    }

    /// <summary>
    /// Runs <paramref name="work"/> on the connection's thread (with a sender that is a no-op while disconnected), or, once
    /// the service is stopping, during <see cref="Dispose"/> after that thread has ended — so everything touching sd-bus
    /// stays on one thread at a time. False once disposed: the work will not run.
    /// </summary>
    public bool Post(Action<BusSender> work)
    {
        lock (_workGate)
        {
            if (_closed)
            {
                return false;
            }
            _work.Enqueue(work);
            Wake(); // under the gate: Dispose closes the eventfd only after setting _closed under it
        }
        return true;
    }

    /// <summary>Stops the thread (bounded), closes the connection and frees the vtable and the handle.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        _stopping = true;
        Wake();
        var stopped = _thread is null || _thread.Join(TimeSpan.FromSeconds(5));
        if (!stopped)
        {
            // The thread is stuck inside sd-bus: freeing what it may still use would crash the process. Leak instead.
            return;
        }
        lock (_workGate)
        {
            _closed = true;
        }
        RunWork(); // answers posted after the thread's last round (deferred replies: unref their messages)
        _ = Native.close(_wakeFd);
        _vtable?.Dispose();
        _vtable = null;
        if (_self.IsAllocated)
        {
            _self.Free();
        }
    }

    private void Wake()
    {
        ulong one = 1;
        Native.write(_wakeFd, &one, 8);
    }

    private void Run()
    {
        var failures = 0;
        try
        {
            while (!_stopping)
            {
                nint bus;
                nint slot = 0;
                try
                {
                    bus = Connect(out slot);
                }
#pragma warning disable CA1031 // Whatever fails while connecting is a failed attempt, retried: never the end of the thread.
                catch (Exception e)
#pragma warning restore CA1031
                {
                    _firstAttempt.TrySetResult(false);
                    var delay = ReconnectBackoff.Delay(failures++);
                    Tell(() => _observer.ConnectFailed(_target.ToString(), e.Message, delay));
                    WaitForWork(delay);
                    continue;
                }
                failures = 0;
                // What was posted while there was no connection (or while connecting) is run before the bus is current:
                // its signals are dropped, not sent after the fresh announcement of the current state below.
                RunWork();
                CurrentBus = bus;
                Tell(() => _observer.Connected(_target.ToString(), _name));
                _firstAttempt.TrySetResult(true);
                Guard("Connected", () => _object.Connected(_sender));
                var error = Serve(bus);
                CurrentBus = 0;
                Native.sd_bus_slot_unref(slot);
                Native.sd_bus_flush_close_unref(bus);
                if (!_stopping)
                {
                    Tell(() => _observer.Disconnected(_target.ToString(), error));
                    WaitForWork(ReconnectBackoff.Delay(failures++));
                }
            }
        }
        finally
        {
            _firstAttempt.TrySetResult(false);
            RunWork();
        }
    }

    private nint Connect(out nint slot)
    {
        slot = 0;
        var bus = _target.Open();
        var r = Native.sd_bus_add_object_vtable(bus, out slot, _path, _interface.Name, _vtable!.Pointer, GCHandle.ToIntPtr(_self));
        if (r >= 0)
        {
            r = Native.sd_bus_request_name(bus, _name, 0);
        }
        if (r < 0)
        {
            if (slot != 0)
            {
                Native.sd_bus_slot_unref(slot);
            }
            Native.sd_bus_flush_close_unref(bus);
            var why = -r switch
            {
                Errno.EACCES => "the bus's policy does not allow this process to own it (is the policy file installed? see systemd/org.bastion.Bastion1.conf)",
                17 => "another process owns it (is another bastiond running?)",
                _ => Errno.Describe(-r),
            };
            throw new BusException(BusErrors.Failed, $"cannot own {_name} on {_target}: {why}", -r);
        }
        return bus;
    }

    /// <summary>Processes the bus and posted work until stopped or the connection fails; returns why it ended.</summary>
    private string Serve(nint bus)
    {
        var fds = stackalloc Native.PollFd[2];
        while (!_stopping)
        {
            int r;
            do
            {
                r = Native.sd_bus_process(bus, 0);
            }
            while (r > 0 && !_stopping);
            if (r < 0)
            {
                return Errno.Describe(-r);
            }
            RunWork();
            var fd = Native.sd_bus_get_fd(bus);
            var events = Native.sd_bus_get_events(bus);
            if (fd < 0 || events < 0)
            {
                return Errno.Describe(-(fd < 0 ? fd : events));
            }
            Native.sd_bus_get_timeout(bus, out var until);
            fds[0] = new Native.PollFd { Fd = fd, Events = (short)events };
            fds[1] = new Native.PollFd { Fd = _wakeFd, Events = Native.PollIn };
            var p = Native.poll(fds, 2, TimeoutMs(until));
            if (p < 0 && Marshal.GetLastPInvokeError() != Errno.EINTR)
            {
                return "poll: " + Errno.Describe(Marshal.GetLastPInvokeError());
            }
            if (p > 0 && (fds[1].Revents & Native.PollIn) != 0)
            {
                DrainWake();
            }
        }
        return "stopping";
    }

    private void WaitForWork(TimeSpan delay)
    {
        var deadline = Environment.TickCount64 + (long)delay.TotalMilliseconds;
        var fds = stackalloc Native.PollFd[1];
        while (!_stopping)
        {
            RunWork();
            var left = deadline - Environment.TickCount64;
            if (left <= 0)
            {
                return;
            }
            fds[0] = new Native.PollFd { Fd = _wakeFd, Events = Native.PollIn };
            if (Native.poll(fds, 1, (int)left) > 0)
            {
                DrainWake();
            }
        }
    }

    private void DrainWake()
    {
        ulong value;
        Native.read(_wakeFd, &value, 8);
    }

    private static int TimeoutMs(ulong until)
    {
        if (until == ulong.MaxValue)
        {
            return -1;
        }
        var now = Native.MonotonicMicroseconds();
        if (until <= now)
        {
            return 0;
        }
        var ms = (until - now + 999) / 1000;
        return ms > int.MaxValue ? int.MaxValue : (int)ms;
    }

    private void RunWork()
    {
        while (_work.TryDequeue(out var work))
        {
            Guard("posted work", () => work(_sender));
        }
    }

    private void Guard(string what, Action action)
    {
        try
        {
            action();
        }
#pragma warning disable CA1031 // The connection's thread must outlive any one failure.
        catch (Exception e)
#pragma warning restore CA1031
        {
            Tell(() => _observer.HandlerFailed(what, e));
        }
    }

    /// <summary>An observer (a logger) that throws must not end the connection's thread: that would end the process.</summary>
    private static void Tell(Action notification)
    {
        try
        {
            notification();
        }
#pragma warning disable CA1031 // See above.
        catch (Exception)
#pragma warning restore CA1031
        {
        }
    }

    internal void EmitSignal(string member, Action<BusMessage> arguments)
    {
        var bus = CurrentBus;
        if (bus == 0)
        {
            return;
        }
        var r = Native.sd_bus_message_new_signal(bus, out var message, _path, _interface.Name, member);
        if (r < 0)
        {
            throw new BusException(BusErrors.Failed, $"cannot create signal {member}: {Errno.Describe(-r)}", -r);
        }
        try
        {
            arguments(new BusMessage(message));
            _ = Native.sd_bus_send(bus, message, 0);
        }
        finally
        {
            Native.sd_bus_message_unref(message);
        }
    }

    internal void EmitPropertiesChanged(IReadOnlyList<string> names)
    {
        var bus = CurrentBus;
        if (bus == 0 || names.Count == 0)
        {
            return;
        }
        var strings = new List<nint>(names.Count);
        var array = (nint*)NativeMemory.AllocZeroed((nuint)((names.Count + 1) * sizeof(nint)));
        try
        {
            for (var i = 0; i < names.Count; i++)
            {
                array[i] = Marshal.StringToCoTaskMemUTF8(names[i]);
                strings.Add(array[i]);
            }
            Native.sd_bus_emit_properties_changed_strv(bus, _path, _interface.Name, (nint)array);
        }
        finally
        {
            strings.ForEach(Marshal.FreeCoTaskMem);
            NativeMemory.Free(array);
        }
    }

    internal static void SendReply(nint call, Action<BusMessage>? write)
    {
        var r = Native.sd_bus_message_new_method_return(call, out var reply);
        if (r < 0)
        {
            return; // the caller asked for no reply, or the connection is gone
        }
        try
        {
            write?.Invoke(new BusMessage(reply));
            _ = Native.sd_bus_send(0, reply, 0); // fails only when the connection is gone
        }
        finally
        {
            Native.sd_bus_message_unref(reply);
        }
    }

    internal static void SendError(nint call, string name, string message)
    {
        var error = default(SdBusError);
        Native.sd_bus_error_set(&error, name, message);
        _ = Native.sd_bus_reply_method_error(call, &error);
        Native.sd_bus_error_free(&error);
    }

    [UnmanagedCallersOnly]
    private static int OnMethod(nint message, nint userdata, SdBusError* error)
    {
        BusService? owner = null;
        BusCall? call = null;
        var member = "?";
        try
        {
            owner = (BusService)GCHandle.FromIntPtr(userdata).Target!;
            call = new BusCall(owner, message);
            member = call.Member;
            owner._object.HandleMethod(call);
            if (!call.Answered)
            {
                throw new InvalidOperationException($"{member}: the handler returned without an answer");
            }
            return 1;
        }
        catch (BusException e) when (call is not { Answered: true })
        {
            return SetError(error, e.Name, e.Message);
        }
#pragma warning disable CA1031 // No managed exception may cross into native code: it would abort the process.
        catch (Exception e)
#pragma warning restore CA1031
        {
            ReportFailure(owner, member, e);
            if (call is { Answered: true })
            {
                // Already replied (or deferred, to be answered later): a second answer to one call would be a protocol error.
                return 1;
            }
            return SetError(error, BusErrors.Failed, $"internal error in {member}: {e.GetType().Name}; see the daemon's log");
        }
    }

    [UnmanagedCallersOnly]
    private static int OnGetProperty(nint bus, nint path, nint iface, nint property, nint reply, nint userdata, SdBusError* error)
    {
        BusService? owner = null;
        var name = "?";
        try
        {
            owner = (BusService)GCHandle.FromIntPtr(userdata).Target!;
            name = Marshal.PtrToStringUTF8(property) ?? "";
            owner._object.AppendProperty(name, new BusMessage(reply));
            return 0;
        }
        catch (BusException e)
        {
            return SetError(error, e.Name, e.Message);
        }
#pragma warning disable CA1031 // No managed exception may cross into native code: it would abort the process.
        catch (Exception e)
#pragma warning restore CA1031
        {
            ReportFailure(owner, "property " + name, e);
            return SetError(error, BusErrors.Failed, $"internal error reading {name}: {e.GetType().Name}; see the daemon's log");
        }
    }

    private static void ReportFailure(BusService? owner, string member, Exception e)
    {
        try
        {
            owner?._observer.HandlerFailed(member, e);
        }
#pragma warning disable CA1031 // An observer's failure must not cross into native code either.
        catch (Exception)
#pragma warning restore CA1031
        {
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int SetError(SdBusError* error, string name, string message)
    {
        var r = Native.sd_bus_error_set(error, name, message);
        return r < 0 ? r : -5; // -EIO: a handler must return a negative value with the error
    }
}
