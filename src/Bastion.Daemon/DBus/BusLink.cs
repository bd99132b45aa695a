using Bastion.Api;
using Microsoft.Extensions.Logging;
using Tmds.DBus.Protocol;

namespace Bastion.Daemon.DBus;

/// <summary>
/// Keeps bastiond on its bus: connects (Tmds.DBus.Protocol), registers the object's handler, owns the well-known name, then
/// waits for the connection to end; when the bus goes away (dbus-daemon restarted) it connects again with
/// <see cref="ReconnectBackoff"/>. After every (re)connection <c>announce</c> sends the current state under the same lock as
/// every signal, so nothing queued during an outage is replayed: signals sent while there is no connection are dropped.
/// </summary>
internal sealed class BusLink : IDisposable
{
    private static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(10);

    private readonly BusTarget _target;
    private readonly string _name;
    private readonly IPathMethodHandler _handler;
    private readonly Action<DBusConnection> _announce;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly CancellationTokenSource _stop = new();
    private readonly TaskCompletionSource<bool> _firstAttempt = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Lock _sendGate = new();
    private DBusConnection? _current; // under _sendGate
    private Task? _loop;
    private string? _lastConnectError;

    public BusLink(BusTarget target, string name, IPathMethodHandler handler, Action<DBusConnection> announce, ILogger logger, TimeProvider time)
    {
        _target = target;
        _name = name;
        _handler = handler;
        _announce = announce;
        _logger = logger;
        _time = time;
    }

    /// <summary>Completes with whether the first connection attempt succeeded (later attempts go on either way).</summary>
    public Task<bool> FirstAttempt => _firstAttempt.Task;

    public void Start() => _loop = Task.Run(RunAsync);

    /// <summary>
    /// Runs <paramref name="send"/> with the current connection, under the lock that orders every signal after the announcement
    /// of a (re)connection; does nothing while there is no connection (the state is announced again on reconnecting).
    /// </summary>
    public void WithConnection(Action<DBusConnection> send)
    {
        lock (_sendGate)
        {
            if (_current is { } connection)
            {
                send(connection);
            }
        }
    }

    public void Dispose()
    {
        if (_stop.IsCancellationRequested)
        {
            return;
        }
        _stop.Cancel();
        lock (_sendGate)
        {
            _current?.Dispose();
            _current = null;
        }
        // Bounded: a connect stuck in the library must not hold up the daemon's stop.
        _loop?.Wait(TimeSpan.FromSeconds(5));
        _stop.Dispose();
    }

    private async Task RunAsync()
    {
        var failures = 0;
        var token = _stop.Token;
        while (!token.IsCancellationRequested)
        {
            DBusConnection connection;
            try
            {
                connection = await ConnectAsync(token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
                break;
            }
#pragma warning disable CA1031 // Whatever fails while connecting is a failed attempt, retried: never the end of the API.
            catch (Exception e)
#pragma warning restore CA1031
            {
                _firstAttempt.TrySetResult(false);
                var delay = ReconnectBackoff.Delay(failures++);
                ConnectFailed(Describe(e), delay);
                await DelayAsync(delay, token).ConfigureAwait(false);
                continue;
            }
            failures = 0;
            _lastConnectError = null;
            var target = _target.ToString();
            DbusLog.Connected(_logger, _name, target);
            _firstAttempt.TrySetResult(true);
            var ended = await Task.WhenAny(connection.DisconnectedAsync(), Task.Delay(Timeout.Infinite, token)).ConfigureAwait(false);
            lock (_sendGate)
            {
                if (ReferenceEquals(_current, connection))
                {
                    _current = null;
                }
            }
            connection.Dispose();
            if (token.IsCancellationRequested)
            {
                break;
            }
            var reason = ended is Task<Exception?> { IsCompletedSuccessfully: true, Result: { } why } ? Describe(why) : "the connection was closed";
            var bus = _target.ToString();
            DbusLog.Disconnected(_logger, bus, reason);
            await DelayAsync(ReconnectBackoff.Delay(failures++), token).ConfigureAwait(false);
        }
        _firstAttempt.TrySetResult(false);
    }

    private async Task<DBusConnection> ConnectAsync(CancellationToken token)
    {
        var address = _target.Resolve()
            ?? throw new BusException(BusErrors.Disconnected, $"cannot connect to {_target}: DBUS_SESSION_BUS_ADDRESS is not set");
        var connection = new DBusConnection(new DBusConnectionOptions(address)
        {
            AutoConnect = false,
            OnException = OnException,
        });
        try
        {
            try
            {
                await connection.ConnectAsync().AsTask().WaitAsync(ConnectTimeout, _time, token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                throw new BusException(BusErrors.Disconnected, $"cannot connect to {_target}: {Describe(e)}", e);
            }
            connection.AddMethodHandler(_handler);
            bool owned;
            try
            {
                owned = await connection.TryRequestNameAsync(_name, RequestNameOptions.None).WaitAsync(ConnectTimeout, _time, token).ConfigureAwait(false);
            }
            catch (DBusErrorReplyException e)
            {
                throw new BusException(e.ErrorName, $"cannot own {_name} on {_target}: " + (e.ErrorName == BusErrors.AccessDenied
                    ? "the bus's policy does not allow this process to own it (is the policy file installed? see systemd/org.bastion.Bastion1.conf)"
                    : e.ErrorMessage));
            }
            if (!owned)
            {
                throw new BusException(BusErrors.Failed, $"cannot own {_name} on {_target}: another process owns it (is another bastiond running?)");
            }
            lock (_sendGate)
            {
                token.ThrowIfCancellationRequested();
                _current = connection;
                _announce(connection);
            }
            return connection;
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    private void OnException(DBusConnection.ExceptionContext context)
    {
        try
        {
            if (context.Source is DBusConnection.ExceptionSource.MethodHandler)
            {
                DbusLog.HandlerFailed(_logger, "a method handler", context.Exception);
            }
        }
#pragma warning disable CA1031 // The library's callback must not throw.
        catch (Exception)
#pragma warning restore CA1031
        {
        }
    }

    private void ConnectFailed(string reason, TimeSpan retryIn)
    {
        // Once per distinct reason: a bus that stays down must not fill the journal every few seconds.
        if (reason != _lastConnectError)
        {
            _lastConnectError = reason;
            DbusLog.ConnectFailed(_logger, reason);
        }
        else
        {
            DbusLog.ConnectStillFailing(_logger, reason, retryIn);
        }
    }

    private async Task DelayAsync(TimeSpan delay, CancellationToken token)
    {
        try
        {
            await Task.Delay(delay, _time, token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
    }

    private static string Describe(Exception e) => BusErrors.DescribeChain(e);
}
