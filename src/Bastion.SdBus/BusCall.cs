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
