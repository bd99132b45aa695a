namespace Bastion.SdBus;

/// <summary>
/// The exported object's behaviour. Every member is called on the connection's own thread: it must not block
/// (hand slow work to another thread and answer with <see cref="BusCall.Defer"/>). An exception thrown here never
/// reaches sd-bus: a <see cref="BusException"/> becomes the error reply with its name, anything else
/// <c>org.freedesktop.DBus.Error.Failed</c> (and <see cref="IBusObserver.HandlerFailed"/>).
/// </summary>
public interface IBusObject
{
    /// <summary>A method call whose arguments sd-bus has already checked against the declared signature.</summary>
    void HandleMethod(BusCall request);

    /// <summary>Appends the value of a property (of its declared type) to <paramref name="reply"/>.</summary>
    void AppendProperty(string name, BusMessage reply);

    /// <summary>
    /// The object is registered and the name owned, after the first connection or a reconnection: the place to announce
    /// the current state (what changed during an outage is not replayed).
    /// </summary>
    void Connected(BusSender sender);
}

/// <summary>What the connection tells its owner (for logging).</summary>
public interface IBusObserver
{
    void Connected(string bus, string name);
    void ConnectFailed(string bus, string reason, TimeSpan retryIn);
    void Disconnected(string bus, string reason);
    void HandlerFailed(string member, Exception exception);
}

/// <summary>Sends signals on the current connection; a no-op while there is none (the state is re-announced on reconnect).</summary>
public sealed class BusSender
{
    private readonly BusService _owner;

    internal BusSender(BusService owner) => _owner = owner;

    public bool IsConnected => _owner.CurrentBus != 0;

    public void EmitSignal(string member, Action<BusMessage> arguments) => _owner.EmitSignal(member, arguments);

    public void EmitPropertiesChanged(IReadOnlyList<string> names) => _owner.EmitPropertiesChanged(names);
}
