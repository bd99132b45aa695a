using System.Diagnostics;
using System.Globalization;
using Bastion.Config;
using Bastion.Supervision;
using Bastion.Tor;
using Microsoft.Extensions.Logging;

namespace Bastion.Daemon.Tor;

/// <summary>
/// The <c>tor</c> component. Managed: starts tor with a torrc generated in <c>{stateDir}/tor</c> (DataDirectory 0700,
/// SocksPort, ControlPort auto with cookie authentication, owned by bastiond), authenticates (SAFECOOKIE), follows
/// bootstrap into status, and publishes the session for the onion services. One attempt = one tor process: when tor
/// exits the attempt fails with tor's last words and the supervisor restarts it with backoff.
/// With <c>onion.tor.control</c>: connects to that tor instead and starts nothing.
/// </summary>
internal sealed class TorComponent(TorConfig config, string stateDir, TorRuntime runtime, ILogger logger) : IComponent
{
    private static readonly TimeSpan ControlPortWait = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan ExitWait = TimeSpan.FromSeconds(5);

    /// <summary>How often tor is asked whether it is alive and connected; a frozen tor shows within about two of these.</summary>
    internal static readonly TimeSpan ProbeInterval = TimeSpan.FromSeconds(5);
    internal static readonly TimeSpan ProbeDeadline = TimeSpan.FromSeconds(5);

    public async Task RunAsync(IComponentContext context, CancellationToken cancellationToken)
    {
        if (config.Control is { } control)
        {
            await RunExistingAsync(context, control, cancellationToken).ConfigureAwait(false);
            return;
        }
        await RunManagedAsync(context, cancellationToken).ConfigureAwait(false);
    }

    private async Task RunExistingAsync(IComponentContext context, Endpoint control, CancellationToken cancellationToken)
    {
        context.SetDetail("controlPort", control.ToString());
        TorControlConnection connection;
        try
        {
            connection = await TorControlConnection.ConnectAsync(control.Host, control.Port, cancellationToken).ConfigureAwait(false);
        }
        catch (System.Net.Sockets.SocketException e)
        {
            runtime.SetWaitingReason($"cannot reach tor's control port {control}");
            throw new ComponentFailureException($"cannot connect to tor's control port {control}: {e.SocketErrorCode}");
        }
        await using (connection.ConfigureAwait(false))
        {
            var socks = config.SocksPort;
            try
            {
                await TorAuthentication.AuthenticateAsync(connection, config.CookieFile, cancellationToken).ConfigureAwait(false);
                var listeners = await connection.SendAsync(TorCommand.Line("GETINFO", "net/listeners/socks"), cancellationToken).ConfigureAwait(false);
                if (listeners.IsOk && listeners.Value("net/listeners/socks") is { } l
                    && TorArguments.Parse(l).Word(0) is { } first && Endpoint.TryParse(first, false, out var found, out _) && found is not null)
                {
                    socks = found;
                }
            }
            catch (Exception e) when (e is TorProtocolException or TorCommandException)
            {
                throw new ComponentFailureException(e.Message);
            }
            context.SetDetail("socksPort", socks.ToString());
            var controlText = control.ToString();
            var socksText = socks.ToString();
            TorLog.ControlConnected(logger, controlText, socksText);
            await RunSessionAsync(context, connection, socks, null, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task RunManagedAsync(IComponentContext context, CancellationToken cancellationToken)
    {
        var dir = Path.Combine(stateDir, "tor");
        var dataDir = Path.Combine(dir, "data");
        try
        {
            CreatePrivateDirectory(dir);
            CreatePrivateDirectory(dataDir);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ComponentFailureException($"cannot prepare tor's directory {dataDir}: {e.Message}");
        }
        var torrcPath = Path.Combine(dir, "torrc");
        var defaultsPath = Path.Combine(dir, "torrc.defaults");
        var controlPortFile = Path.Combine(dir, "control-port");
        var cookieFile = Path.Combine(dir, "control_auth_cookie");
        var torrc = Torrc.Build(new ManagedTorrc
        {
            DataDirectory = dataDir,
            SocksPort = config.SocksPort.ToString(),
            ControlPortFile = controlPortFile,
            CookieFile = cookieFile,
            OwnerPid = Environment.ProcessId,
            ExtraLines = [.. config.ExtraConfig],
        });
        var requirePrivate = Environment.GetEnvironmentVariable(TorNetworkSafety.RequireEnvironmentVariable) == "1";
        if (TorNetworkSafety.Check(torrc, requirePrivate) is { } refusal)
        {
            throw new ComponentFailureException("refusing to start tor: " + refusal);
        }
        try
        {
            await File.WriteAllTextAsync(torrcPath, torrc, cancellationToken).ConfigureAwait(false);
            // Debian's /usr/share/tor/tor-service-defaults-torrc must not add settings behind our back: an empty defaults file.
            await File.WriteAllTextAsync(defaultsPath, "", cancellationToken).ConfigureAwait(false);
            File.Delete(controlPortFile);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ComponentFailureException($"cannot write tor's configuration in {dir}: {e.Message}");
        }
        context.SetDetail("socksPort", config.SocksPort.ToString());
        context.SetDetail("bootstrap", "0");

        var psi = new ProcessStartInfo(config.Executable)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[] { "--defaults-torrc", defaultsPath, "-f", torrcPath })
        {
            psi.ArgumentList.Add(arg);
        }
        TorLog.Starting(logger, config.Executable, torrcPath);
        Process process;
        try
        {
            process = Process.Start(psi) ?? throw new ComponentFailureException($"cannot start {config.Executable}");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new ComponentFailureException($"cannot start {config.Executable}: {e.Message} (install tor: apt-get install tor)");
        }
        using (process)
        {
            using var output = new TorProcessOutput(logger, context.Time);
            output.Attach(process);
            context.SetDetail("pid", process.Id.ToString(CultureInfo.InvariantCulture));
            try
            {
                var controlPort = await WaitForControlPortAsync(process, controlPortFile, output, cancellationToken).ConfigureAwait(false);
                context.SetDetail("controlPort", controlPort.ToString());
                TorControlConnection connection;
                try
                {
                    connection = await TorControlConnection.ConnectAsync(controlPort.Host, controlPort.Port, cancellationToken).ConfigureAwait(false);
                }
                catch (System.Net.Sockets.SocketException e)
                {
                    throw new ComponentFailureException($"cannot connect to tor's control port {controlPort}: {e.SocketErrorCode}");
                }
                await using (connection.ConfigureAwait(false))
                {
                    try
                    {
                        await TorAuthentication.AuthenticateAsync(connection, cookieFile, cancellationToken).ConfigureAwait(false);
                        // From now on tor exits as soon as this connection closes (bastiond stopped or died).
                        await connection.SendOkAsync(TorCommand.Line("TAKEOWNERSHIP"), cancellationToken).ConfigureAwait(false);
                        await connection.SendOkAsync(TorCommand.Line("RESETCONF", "__OwningControllerProcess"), cancellationToken).ConfigureAwait(false);
                    }
                    catch (Exception e) when (e is TorProtocolException or TorCommandException)
                    {
                        throw new ComponentFailureException(e.Message);
                    }
                    var controlText = controlPort.ToString();
                    var socksText = config.SocksPort.ToString();
                    TorLog.Started(logger, process.Id, controlText, socksText);
                    await RunSessionAsync(context, connection, config.SocksPort, process, cancellationToken).ConfigureAwait(false);
                }
            }
            finally
            {
                await StopAsync(process).ConfigureAwait(false);
            }
            process.WaitForExit(); // it has exited: this only drains its last output lines
            output.Dispose();
            var why = TorExit.Describe(process.ExitCode, output.LastError());
            TorLog.Exited(logger, process.Id, why);
            throw new ComponentFailureException(why);
        }
    }

    /// <summary>
    /// Publishes the session, follows bootstrap, probes tor on its control port every <see cref="ProbeInterval"/> with a
    /// deadline (a frozen tor, or one that reaches no relay, is Degraded with the cause), returns when tor or the
    /// connection is gone.
    /// </summary>
    private async Task RunSessionAsync(IComponentContext context, TorControlConnection connection, Endpoint socks, Process? process, CancellationToken cancellationToken)
    {
        var lastProgress = -1;
        BootstrapPhase? latest = null;
        string? liveness = null;
        string? circuits = null;
        object? relays = null; // boxed int: the last probe's open relay connections (two probes agreeing), null unknown
        var dormant = false;
        var healthLock = new object();
        void Apply(TorHealth health)
        {
            lock (healthLock)
            {
                context.SetDetail("health", health.State.ToString());
                if (health.Serves)
                {
                    context.ReportRunning($"bootstrapped 100%; SocksPort {socks}");
                }
                else
                {
                    context.ReportDegraded(health.Reason);
                }
                runtime.SetHealth(health);
            }
        }
        void Show(BootstrapPhase phase)
        {
            Volatile.Write(ref latest, phase);
            context.SetDetail("bootstrap", phase.Progress.ToString(CultureInfo.InvariantCulture));
            Apply(TorHealth.Classify(true, ProbeDeadline, phase, Volatile.Read(ref liveness), Volatile.Read(ref circuits),
                (int?)Volatile.Read(ref relays), Volatile.Read(ref dormant)));
            // Each step is in the log already (as the component's state change); the end gets its own line.
            if (Interlocked.Exchange(ref lastProgress, phase.Progress) != phase.Progress && phase.Done)
            {
                var text = phase.ToString();
                TorLog.Bootstrap(logger, text);
            }
        }
        connection.EventReceived += reply =>
        {
            if (BootstrapPhase.TryParse(reply) is { } phase)
            {
                Show(phase);
            }
        };
        try
        {
            // One SETEVENTS for everyone: it replaces the set, so the onion services' HS_DESC is asked for here too.
            await connection.SendOkAsync(TorCommand.Line("SETEVENTS", "STATUS_CLIENT", "HS_DESC"), cancellationToken).ConfigureAwait(false);
            var phaseReply = await connection.SendOkAsync(TorCommand.Line("GETINFO", "status/bootstrap-phase"), cancellationToken).ConfigureAwait(false);
            if (phaseReply.Value("status/bootstrap-phase") is { } text && BootstrapPhase.TryParse(text) is { } phase)
            {
                Show(phase);
            }
        }
        catch (Exception e) when (e is TorProtocolException or TorCommandException)
        {
            throw new ComponentFailureException(e.Message);
        }
        var session = new TorSession(connection, socks, runtime.NextGeneration());
        runtime.Publish(session);
        using var stopProbe = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var probing = ProbeLoopAsync(context, connection, () => Volatile.Read(ref latest), (l, c, p, r, d) =>
        {
            Volatile.Write(ref liveness, l);
            Volatile.Write(ref circuits, c);
            Volatile.Write(ref relays, r is { } n ? (object)n : null);
            Volatile.Write(ref dormant, d);
            if (p is not null)
            {
                Volatile.Write(ref latest, p);
            }
        }, Apply, stopProbe.Token);
        try
        {
            var exited = process is null ? Task.Delay(Timeout.Infinite, cancellationToken) : process.WaitForExitAsync(cancellationToken);
            var ended = await Task.WhenAny(connection.Closed, exited).ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested();
            if (ended == connection.Closed)
            {
                if (process is not null)
                {
                    try
                    {
                        // Tor dying closes the connection first: let the exit code tell the story.
                        await process.WaitForExitAsync(cancellationToken).WaitAsync(TimeSpan.FromSeconds(2), cancellationToken).ConfigureAwait(false);
                        return;
                    }
                    catch (TimeoutException)
                    {
                    }
                }
                throw new ComponentFailureException(await connection.Closed.ConfigureAwait(false));
            }
        }
        finally
        {
            await stopProbe.CancelAsync().ConfigureAwait(false);
            await probing.ConfigureAwait(false);
            runtime.Withdraw(session, cancellationToken.IsCancellationRequested ? "tor is stopping" : "tor is restarting");
        }
    }

    /// <summary>
    /// Every <see cref="ProbeInterval"/>: bootstrap phase, network liveness, circuit state and open relay connections, with a deadline. A missed
    /// deadline only stops waiting: the command stays queued, so a tor that thaws answers it in order.
    /// </summary>
    private static async Task ProbeLoopAsync(IComponentContext context, TorControlConnection connection, Func<BootstrapPhase?> latest,
        Action<string?, string?, BootstrapPhase?, int?, bool> remember, Action<TorHealth> apply, CancellationToken cancellationToken)
    {
        int? previousRelays = null;
        try
        {
            while (true)
            {
                await Task.Delay(ProbeInterval, context.Time, cancellationToken).ConfigureAwait(false);
                using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                deadline.CancelAfter(ProbeDeadline);
                TorReply reply;
                try
                {
                    reply = await connection.SendAsync(
                        TorCommand.Line("GETINFO", "status/bootstrap-phase", "network-liveness", "status/circuit-established", "orconn-status", "dormant"),
                        deadline.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    apply(TorHealth.Classify(false, ProbeDeadline, latest(), null, null));
                    continue;
                }
                if (!reply.IsOk)
                {
                    continue;
                }
                var phase = reply.Value("status/bootstrap-phase") is { } text ? BootstrapPhase.TryParse(text) : null;
                var liveness = reply.Value("network-liveness");
                var circuits = reply.Value("status/circuit-established");
                int? relays = reply.Value("orconn-status") is { } orconns ? TorHealth.CountOpenRelayConnections(orconns) : null;
                // No relay connection on two probes in a row, not one: a guard being swapped can leave a moment without.
                var seen = relays == 0 && previousRelays != 0 ? null : relays;
                previousRelays = relays;
                var dormant = reply.Value("dormant") == "1";
                remember(liveness, circuits, phase, seen, dormant);
                apply(TorHealth.Classify(true, ProbeDeadline, phase ?? latest(), liveness, circuits, seen, dormant));
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (TorProtocolException)
        {
            // The connection is gone: the session's owner sees that on Closed.
        }
    }

    private static async Task<Endpoint> WaitForControlPortAsync(Process process, string file, TorProcessOutput output, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (process.HasExited)
            {
                // At start tor's warnings are the cause ("Failed to parse/validate config: …" before "[err] Reading config
                // failed"); a signal is named as such.
                throw new ComponentFailureException(process.ExitCode > 128
                    ? TorExit.Describe(process.ExitCode, null) + " at start"
                    : $"tor exited with code {process.ExitCode} at start: {output.LastWords()}");
            }
            if (File.Exists(file))
            {
                // "PORT=127.0.0.1:40123" (written atomically by tor).
                var text = (await File.ReadAllTextAsync(file, cancellationToken).ConfigureAwait(false)).Trim();
                if (text.StartsWith("PORT=", StringComparison.Ordinal) && Endpoint.TryParse(text[5..], false, out var endpoint, out _) && endpoint is not null)
                {
                    return endpoint;
                }
            }
            if (Stopwatch.GetElapsedTime(started) > ControlPortWait)
            {
                throw new ComponentFailureException($"tor did not open its control port within {ControlPortWait.TotalSeconds:0}s: {output.LastWords()}");
            }
            await Task.Delay(50, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Tor exits when its owning control connection closes; SIGKILL if it lingers (it is ours, by pid).</summary>
    private async Task StopAsync(Process process)
    {
        if (process.HasExited)
        {
            return;
        }
        TorLog.Stopping(logger, process.Id);
        try
        {
            process.StandardInput.Close();
            await process.WaitForExitAsync().WaitAsync(ExitWait).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync().ConfigureAwait(false);
        }
    }

    private static void CreatePrivateDirectory(string path)
    {
        Directory.CreateDirectory(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        // Explicit: mkdir's mode is filtered by the umask, and an existing directory keeps its old mode. Tor insists on 0700.
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }
}
