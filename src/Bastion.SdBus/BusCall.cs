namespace Bastion.SdBus;

/// <summary>
/// An incoming method call, valid only inside <see cref="IBusObject.HandleMethod"/>. Answer it there with
/// <see cref="Reply"/>, or throw <see cref="BusException"/>, or take a <see cref="DeferredReply"/> to answer later from
/// any thread.
/// </summary>
public sealed class BusCall
{
    private readonly BusService _owner;
    private readonly nint _message;

    internal BusCall(BusService owner, nint message)
    {
        _owner = owner;
        _message = message;
        Arguments = new BusMessage(message);
        Member = Arguments.Member;
    }

    public string Member { get; }

    /// <summary>The caller's unique bus name (e.g. <c>:1.42</c>), for logs.</summary>
    public string Sender => System.Runtime.InteropServices.Marshal.PtrToStringUTF8(Native.sd_bus_message_get_sender(_message)) ?? "?";

    /// <summary>
    /// Who sent the call: effective uid and pid as the bus daemon saw them when the caller connected (SO_PEERCRED), for
    /// audit logs. dbus-daemon attaches no credentials to messages, so this is a synchronous GetConnectionCredentials
    /// call to the bus daemon (answered by the bus itself, bounded by sd-bus's method call timeout; sd-bus queues other
    /// incoming messages meanwhile). Never throws: what could not be had is null, with the reason.
    /// </summary>
    public BusCaller QueryCaller()
    {
        var sender = Sender;
        var r = Native.sd_bus_query_sender_creds(_message, Native.CredsEuid | Native.CredsPid, out var creds);
        if (r < 0)
        {
            // ENXIO is the bus's NameHasNoOwner: a caller that did not wait for the reply can be gone before we ask.
            return new BusCaller(sender, null, null, r == -Errno.ENXIO
                ? "it left the bus before it could be identified"
                : "the bus did not give its credentials: " + Errno.Describe(-r));
        }
        try
        {
            uint? uid = Native.sd_bus_creds_get_euid(creds, out var euid) >= 0 ? euid : null;
            int? pid = Native.sd_bus_creds_get_pid(creds, out var p) >= 0 ? p : null;
            return new BusCaller(sender, uid, pid, uid is null || pid is null ? "the bus did not give both its uid and pid" : null);
        }
        finally
        {
            Native.sd_bus_creds_unref(creds);
        }
    }

    /// <summary>Read the arguments in declared order.</summary>
    public BusMessage Arguments { get; }

    internal bool Answered { get; private set; }

    public void Reply(Action<BusMessage>? write = null)
    {
        // Answered only once the reply is built: a write that throws sent nothing, and the caller gets the error instead.
        BusService.SendReply(_message, write);
        Answered = true;
    }

    /// <summary>Keeps the call (a reference on the message) for an answer from another thread.</summary>
    public DeferredReply Defer()
    {
        Answered = true;
        return new DeferredReply(_owner, Native.sd_bus_message_ref(_message));
    }
}

/// <summary>A method call's sender: its unique bus name, and its uid and pid when the bus told them (else <see cref="Problem"/> says why).</summary>
public sealed record BusCaller(string UniqueName, uint? Uid, int? Pid, string? Problem)
{
    /// <summary>For logs: "uid 0 (root) pid 1234 :1.42"; "uid ? pid ? :1.42 (why)" when the bus did not say.</summary>
    public string Describe(Func<uint, string?> nameOf)
    {
        var who = Uid is { } uid ? $"uid {uid}" + (nameOf(uid) is { Length: > 0 } name ? $" ({name})" : "") : "uid ?";
        var pid = Pid is { } p ? $"pid {p}" : "pid ?";
        return $"{who} {pid} {UniqueName}" + (Problem is null ? "" : $" ({Problem})");
    }
}

/// <summary>
/// A call to be answered later, from any thread: the answer is handed to the connection's thread. Answer exactly once;
/// a second answer is ignored. If the connection was lost meanwhile, the answer is dropped (the caller got an error).
/// </summary>
public sealed class DeferredReply
{
    private readonly BusService _owner;
    private nint _message;

    internal DeferredReply(BusService owner, nint message)
    {
        _owner = owner;
        _message = message;
    }

    public void Complete(Action<BusMessage>? write) => Finish(m => BusService.SendReply(m, write));

    public void Fail(string errorName, string message) => Finish(m => BusService.SendError(m, errorName, message));

    private void Finish(Action<nint> answer)
    {
        var message = Interlocked.Exchange(ref _message, 0);
        if (message == 0)
        {
            return;
        }
        if (!_owner.Post(_ => Answer(message, answer)))
        {
            // The service is disposed (its thread has ended): nobody can answer, but the reference must not leak.
            Native.sd_bus_message_unref(message);
        }
    }

    private static void Answer(nint message, Action<nint> answer)
    {
        try
        {
            answer(message);
        }
        finally
        {
            Native.sd_bus_message_unref(message);
        }
    }
}
