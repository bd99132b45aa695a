// CA1873: these log calls run once per connection or state change, never in the relay loop; the cost is irrelevant.
#pragma warning disable CA1873

using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Bastion.Config;
using Bastion.Supervision;
using Bastion.Tls;

namespace Bastion.Daemon.Tls;

// The two ways a connection starts: accepted (listen) or dialled (phones home).
public sealed partial class TlsEndpoint
{
    private async Task ListenAsync(IComponentContext context, PeerValidator validator, CancellationToken cancellationToken)
    {
        using var listener = Bind();
        var bound = (IPEndPoint)listener.LocalEndPoint!;
        _boundAddress = bound.ToString();
        context.SetDetail("address", _boundAddress);
        context.SetDetail("boundPort", bound.Port.ToString(CultureInfo.InvariantCulture));
        Count(context);
        TlsLog.Listening(logger, Name, _boundAddress, definition.Backend.ToString());
        UpdateHealth(context);
        AnnounceBound(_boundAddress);

        var connections = new HashSet<Task>();
        var gate = new Lock();
        try
        {
            while (true)
            {
                var socket = await listener.AcceptAsync(cancellationToken).ConfigureAwait(false);
                socket.NoDelay = true;
                var task = Task.Run(() => ServeGuardedAsync(socket, context, validator, cancellationToken), CancellationToken.None);
                lock (gate)
                {
                    connections.Add(task);
                }
                _ = task.ContinueWith(t =>
                {
                    lock (gate)
                    {
                        connections.Remove(t);
                    }
                }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
        finally
        {
            listener.Dispose();
            Task[] pending;
            lock (gate)
            {
                pending = [.. connections];
            }
            await Task.WhenAll(pending).ConfigureAwait(false);
        }
    }

    private Socket Bind()
    {
        var host = _config.Address.Host;
        IPAddress address;
        if (host is "*" or "")
        {
            address = IPAddress.IPv6Any;
        }
        else if (!IPAddress.TryParse(host, out address!))
        {
            address = Dns.GetHostAddresses(host).FirstOrDefault()
                ?? throw new ComponentFailureException($"cannot resolve {host} to listen on — use an IP address in address:");
        }
        var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (address.Equals(IPAddress.IPv6Any))
            {
                socket.DualMode = true;
            }
            socket.Bind(new IPEndPoint(address, _config.Address.Port));
            socket.Listen(128);
            return socket;
        }
        catch (SocketException e)
        {
            socket.Dispose();
            throw new ComponentFailureException(e.SocketErrorCode == SocketError.AddressAlreadyInUse
                ? $"cannot listen on {_config.Address}: the address is already in use — stop what holds it (ss -ltnp 'sport = :{_config.Address.Port}') or pick another port"
                : $"cannot listen on {_config.Address}: {e.Message}");
        }
    }

    /// <summary>
    /// Phones home: connects to the admin's listener, serves one session at a time, and after each attempt or session waits
    /// the interval before dialling again — so an admin (or a friend) who starts listening is reached within one interval.
    /// </summary>
    private async Task DialAsync(IComponentContext context, PeerValidator validator, CancellationToken cancellationToken)
    {
        context.SetDetail("address", _config.Address.ToString());
        var attempts = 0L;
        Count(context);
        UpdateHealth(context);
        while (true)
        {
            attempts++;
            context.SetDetail("attempts", attempts.ToString(CultureInfo.InvariantCulture));
            var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                timeout.CancelAfter(TlsPolicy.HandshakeTimeout);
                await socket.ConnectAsync(_config.Address.Host, _config.Address.Port, timeout.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is SocketException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
            {
                socket.Dispose();
                var error = BackendConnector.Describe(e);
                context.SetDetail("lastAttempt", error);
                TlsLog.DialFailed(logger, Name, _config.Address.ToString(), error, Durations.Format(_config.Interval));
                if (_health == HealthProblem.None)
                {
                    context.ReportDegraded($"phoning home to {_config.Address}: {error}; retrying every {Durations.Format(_config.Interval)}");
                }
                await Task.Delay(_config.Interval, context.Time, cancellationToken).ConfigureAwait(false);
                continue;
            }
            catch
            {
                socket.Dispose(); // stopping (or anything unforeseen): the half-open socket is ours to close
                throw;
            }
            TlsLog.DialConnected(logger, Name, _config.Address.ToString());
            context.SetDetail("lastAttempt", "connected");
            var accepted = await ServeGuardedAsync(socket, context, validator, cancellationToken).ConfigureAwait(false);
            if (accepted)
            {
                UpdateHealth(context);
            }
            await Task.Delay(_config.Interval, context.Time, cancellationToken).ConfigureAwait(false);
        }
    }
}
