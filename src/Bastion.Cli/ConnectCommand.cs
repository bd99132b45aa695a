using System.CommandLine;
using System.CommandLine.Parsing;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using Bastion.Config;
using Bastion.Pki;
using Bastion.Tls;

namespace Bastion.Cli;

/// <summary>
/// <c>bastionctl connect HOST:PORT</c> / <c>bastionctl connect --listen ADDR</c>: the admin's end of a Bastion TLS endpoint,
/// like a stunnel client. A local plain port (<c>--local</c>, default 127.0.0.1 on a free port, printed) is relayed over
/// mutual TLS with the admin's client certificate; the server must present a serverAuth certificate of the same CA (and,
/// with <c>--pin</c>, a pinned key; with <c>--crl</c>, one not revoked). With <c>--listen</c> it waits for a server that
/// phones home (a <c>tls:</c> endpoint in mode dial) and pairs each such session with the next local client.
/// TLS roles follow the certificates: this side is always the TLS client.
/// </summary>
internal sealed class ConnectCommand(CliConsole console)
{

    public Command Create()
    {
        var server = new Argument<string?>("HOST:PORT") { Description = "The Bastion endpoint to connect to (omit with --listen)", Arity = ArgumentArity.ZeroOrOne };
        var listen = new Option<string>("--listen") { Description = "Wait for a server that phones home on this address instead, e.g. 0.0.0.0:8443", HelpName = "ADDR" };
        var local = new Option<string>("--local") { Description = "The local plain address to offer [default: 127.0.0.1:0, a free port, printed]", HelpName = "ADDR" };
        var cert = new Option<string>("--cert") { Description = "Your client certificate (PEM), from `bastionctl pki issue client NAME`", HelpName = "FILE", Required = true };
        var key = new Option<string>("--key") { Description = "Its private key (PEM)", HelpName = "FILE", Required = true };
        var ca = new Option<string>("--ca") { Description = "The session CA certificate that must have signed the server's certificate", HelpName = "FILE", Required = true };
        var crl = new Option<string>("--crl") { Description = "Refuse a server whose certificate this CRL revokes [default: crl.pem next to --ca, when it exists]", HelpName = "FILE" };
        var serverName = new Option<string>("--server-name") { Description = "The name (or IP address) the server's certificate must hold [default: the host of HOST:PORT; not checked with --listen unless given]", HelpName = "NAME" };
        var pins = new Option<string[]>("--pin") { Description = "Also require the server's key to have this SPKI SHA-256 pin (repeatable)", HelpName = "BASE64" };
        var once = new Option<bool>("--once") { Description = "Relay one connection, then exit (0 when it was relayed, 1 when refused)" };
        var command = new Command("connect", "Relay a local plain port over mutual TLS to a Bastion endpoint (like a stunnel client); --listen waits for a server that phones home")
        {
            server, listen, local, cert, key, ca, crl, serverName, pins, once,
        };
        command.Validators.Add(result =>
        {
            var hasServer = result.GetValue(server) is not null;
            var hasListen = result.GetValue(listen) is not null;
            if (hasServer == hasListen)
            {
                result.AddError(hasServer
                    ? "give either HOST:PORT (connect to the server) or --listen ADDR (wait for it to phone home), not both"
                    : "give HOST:PORT (the Bastion endpoint) or --listen ADDR (wait for a server that phones home)");
            }
        });
        command.SetAction(async (parseResult, cancellationToken) =>
        {
            // Before anything uses cryptography: OpenSSL reads its groups once, at its first use (see TlsKeyExchange).
            if (TlsKeyExchange.Apply() is { } notApplied)
            {
                console.Message($"TLS key exchange not limited to {TlsKeyExchange.Groups}: {notApplied}");
            }
            try
            {
                var caPath = parseResult.GetValue(ca)!;
                var settings = new Settings(
                    Parse(parseResult.GetValue(local) ?? "127.0.0.1:0", "--local", allowZero: true),
                    new EndpointCredentials(parseResult.GetValue(cert)!, parseResult.GetValue(key)!, caPath, advertiseCa: false),
                    new PeerValidator(CertificateRole.Server, parseResult.GetValue(pins) ?? [], Revocations(parseResult.GetValue(crl), caPath), console.Time),
                    parseResult.GetValue(once),
                    parseResult.GetValue(serverName));
                try
                {
                    settings.Credentials.Current();
                }
                catch (CredentialsException e)
                {
                    throw new CommandException(ExitCodes.Failed, e.Message);
                }
                return parseResult.GetValue(listen) is { } l
                    ? await ReverseAsync(settings, Parse(l, "--listen", allowZero: true), cancellationToken).ConfigureAwait(false)
                    : await ForwardAsync(settings, Parse(parseResult.GetValue(server)!, "HOST:PORT", allowZero: false), cancellationToken).ConfigureAwait(false);
            }
            catch (CommandException e)
            {
                console.Message(e.Message);
                return e.ExitCode;
            }
            catch (OperationCanceledException)
            {
                return ExitCodes.Ok; // Ctrl-C
            }
        });
        return command;
    }

    private sealed record Settings(Endpoint Local, EndpointCredentials Credentials, PeerValidator Validator, bool Once, string? ServerName);

    /// <summary>--crl, or the CA's crl.pem next to --ca when it is at hand (a copy of the pki directory has it).</summary>
    private RevocationList? Revocations(string? crl, string caPath)
    {
        if (crl is not null)
        {
            return new RevocationList(Path.GetFullPath(crl));
        }
        var beside = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(caPath)) ?? "/", CertificateAuthority.CrlFile);
        if (!File.Exists(beside))
        {
            return null;
        }
        console.Message($"checking the server's certificate against {beside}");
        return new RevocationList(beside);
    }

    private async Task<int> ForwardAsync(Settings settings, Endpoint server, CancellationToken cancellationToken)
    {
        using var listener = Listen(settings.Local, "--local");
        console.Output.WriteLine($"listening on {listener.LocalEndPoint} (plain), relaying to {server} over mutual TLS");
        await console.Output.FlushAsync(cancellationToken).ConfigureAwait(false);
        var sessions = new List<Task>();
        while (true)
        {
            var client = await listener.AcceptAsync(cancellationToken).ConfigureAwait(false);
            client.NoDelay = true;
            var session = Task.Run(async () =>
            {
                using (client)
                {
                    var tcp = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                    try
                    {
                        // Bounded: a black-holed server must not leave the admin's client hanging (nor --once exit 0).
                        using var connectTimeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                        connectTimeout.CancelAfter(TlsPolicy.HandshakeTimeout);
                        await tcp.ConnectAsync(server.Host, server.Port, connectTimeout.Token).ConfigureAwait(false);
                    }
                    catch (Exception e) when (e is SocketException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
                    {
                        tcp.Dispose();
                        console.Message(e is OperationCanceledException
                            ? $"cannot reach {server}: no answer within {Durations.Format(TlsPolicy.HandshakeTimeout)} (host down, or a firewall dropping the packets)"
                            : $"cannot reach {server}: {e.Message}");
                        return false;
                    }
                    var name = settings.ServerName ?? server.Host;
                    return await HandshakeAndRelayAsync(settings, tcp, client, server.ToString(), name, cancellationToken).ConfigureAwait(false);
                }
            }, CancellationToken.None);
            if (settings.Once)
            {
                return await session.ConfigureAwait(false) ? ExitCodes.Ok : ExitCodes.Failed;
            }
            sessions.RemoveAll(t => t.IsCompleted);
            sessions.Add(session);
        }
    }

    private async Task<int> ReverseAsync(Settings settings, Endpoint listenAt, CancellationToken cancellationToken)
    {
        using var listener = Listen(listenAt, "--listen");
        using var local = Listen(settings.Local, "--local");
        console.Output.WriteLine($"waiting for the server on {listener.LocalEndPoint}; local plain port {local.LocalEndPoint}");
        await console.Output.FlushAsync(cancellationToken).ConfigureAwait(false);
        while (true)
        {
            var tcp = await listener.AcceptAsync(cancellationToken).ConfigureAwait(false);
            tcp.NoDelay = true;
            var from = tcp.RemoteEndPoint?.ToString() ?? "?";
            if (TcpState(tcp) is { } state && state != TcpEstablished)
            {
                // A call that waited in the listen queue while we relayed another session, and that the server has given
                // up meanwhile (it keeps dialling while a session is open): not a refusal, nothing to report as one.
                console.Message($"skipped a call from {from} that the server had already given up (it came while we were busy)");
                tcp.Dispose();
                continue;
            }
            // A server that phones home has no name we chose: its certificate's CA, role, revocation and pins decide, and
            // its name only when --server-name is given.
            using var tls = await HandshakeAsync(settings, tcp, from, settings.ServerName ?? "bastion", settings.ServerName, cancellationToken).ConfigureAwait(false);
            if (tls is null)
            {
                if (settings.Once)
                {
                    return ExitCodes.Failed;
                }
                continue;
            }
            // A server that refuses our certificate completes its side of the handshake and closes (TLS 1.3 gives it no
            // earlier chance): look for that before telling the admin to connect a client to a session that is gone.
            if (await ClosedByServerAsync(tcp, RefusalWait, cancellationToken).ConfigureAwait(false))
            {
                console.Message($"refused by the server at {from}: {RefusedAfterHandshake} — the server's log names the reason");
                if (settings.Once)
                {
                    return ExitCodes.Failed;
                }
                continue;
            }
            console.Message($"waiting for a local client on {local.LocalEndPoint}");
            using var client = await local.AcceptAsync(cancellationToken).ConfigureAwait(false);
            client.NoDelay = true;
            var relayed = await RelayAsync(tls, tcp, client, from, cancellationToken).ConfigureAwait(false);
            if (settings.Once)
            {
                return relayed ? ExitCodes.Ok : ExitCodes.Failed;
            }
        }
    }

    /// <summary>How long after the handshake a phoned-home session is watched for the server's refusal (a close).</summary>
    private static readonly TimeSpan RefusalWait = TimeSpan.FromSeconds(1);

    private const string RefusedAfterHandshake =
        "the server closed the connection right after the handshake: it refused our certificate (revoked, another CA) or rate-limited us (or its backend is unreachable)";

    private const int IpprotoTcp = 6;
    private const int TcpInfoOption = 11; // TCP_INFO; its first byte is tcpi_state
    private const byte TcpEstablished = 1;

    /// <summary>
    /// True when the server ends the connection within <paramref name="within"/> of the handshake: the kernel's TCP state
    /// leaves ESTABLISHED (CLOSE_WAIT on its FIN, CLOSE on a reset). Reads nothing, so the session is untouched otherwise.
    /// </summary>
    private async Task<bool> ClosedByServerAsync(Socket tcp, TimeSpan within, CancellationToken cancellationToken)
    {
        var started = console.Time.GetTimestamp();
        while (true)
        {
            switch (TcpState(tcp))
            {
                case null:
                    return false; // no TCP_INFO here: the relay reports a refusal as before
                case not TcpEstablished:
                    return true;
            }
            if (console.Time.GetElapsedTime(started) >= within)
            {
                return false;
            }
            await Task.Delay(TimeSpan.FromMilliseconds(50), console.Time, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>The kernel's TCP state of the connection (tcpi_state: 1 ESTABLISHED, 8 CLOSE_WAIT, …); null if unknown.</summary>
    private static byte? TcpState(Socket tcp)
    {
        var info = new byte[8];
        try
        {
            return tcp.GetRawSocketOption(IpprotoTcp, TcpInfoOption, info) > 0 ? info[0] : null;
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            return null;
        }
    }

    private async Task<bool> HandshakeAndRelayAsync(Settings settings, Socket tcp, Socket client, string peer, string name, CancellationToken cancellationToken)
    {
        using var tls = await HandshakeAsync(settings, tcp, peer, name, name, cancellationToken).ConfigureAwait(false);
        if (tls is null)
        {
            return false;
        }
        return await RelayAsync(tls, tcp, client, peer, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The TLS client handshake with our policy and the server check; null (and why, on stderr) when refused.</summary>
    private async Task<SslStream?> HandshakeAsync(Settings settings, Socket tcp, string peer, string targetHost, string? expectedName, CancellationToken cancellationToken)
    {
        var tls = new SslStream(new NetworkStream(tcp, ownsSocket: true), leaveInnerStreamOpen: false);
        var credentials = settings.Credentials.Current();
        PeerVerdict? verdict = null;
        var options = TlsPolicy.Client(credentials.Context, targetHost, (_, certificate, _, _) =>
        {
            verdict = settings.Validator.Validate(certificate, credentials.Ca, expectedName);
            return verdict.Accepted;
        });
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TlsPolicy.HandshakeTimeout);
        try
        {
            await tls.AuthenticateAsClientAsync(options, timeout.Token).ConfigureAwait(false);
            // A server that rejects our certificate closes after its side of the handshake: TLS 1.3 reports that only on the
            // first read, so the refusal shows up as EOF in the relay and is reported there.
            console.Message($"connected to {peer}: server {verdict!.Subject} serial {verdict.Serial} ({tls.SslProtocol}, {tls.NegotiatedCipherSuite})");
            return tls;
        }
        catch (Exception e) when (e is System.Security.Authentication.AuthenticationException or IOException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            var reason = verdict is { Accepted: false }
                ? verdict.Reason
                : e is OperationCanceledException ? "no TLS handshake within " + Durations.Format(TlsPolicy.HandshakeTimeout)
                : $"handshake failed: {e.Message}{(e.InnerException is null ? "" : " (" + e.InnerException.Message + ")")} — does the server accept our certificate? its log names the reason";
            console.Message($"refused the server at {peer}: subject {verdict?.Subject ?? "-"} serial {verdict?.Serial ?? "-"}: {reason}");
            await tls.DisposeAsync().ConfigureAwait(false);
            return null;
        }
    }

    /// <summary>The relay; false when the server ended the session without sending a byte (it refused us).</summary>
    private async Task<bool> RelayAsync(SslStream tls, Socket tcp, Socket client, string peer, CancellationToken cancellationToken)
    {
        var result = await Relay.RunAsync(tls, tcp, client, cancellationToken).ConfigureAwait(false);
        if (result.ClosedByPeerWithoutData && !cancellationToken.IsCancellationRequested)
        {
            console.Message($"refused by the server at {peer}: {RefusedAfterHandshake} — the server's log names the reason"
                + (result.Error is null ? "" : $" ({result.Error})"));
            return false;
        }
        console.Message($"closed {peer}: {result.FromTls} bytes in, {result.ToTls} bytes out{(result.Error is null ? "" : "; " + result.Error)}");
        return true;
    }

    private static Socket Listen(Endpoint endpoint, string option)
    {
        if (!IPAddress.TryParse(endpoint.Host, out var address))
        {
            try
            {
                address = Dns.GetHostAddresses(endpoint.Host).FirstOrDefault()
                    ?? throw new CommandException(ExitCodes.Failed, $"{option}: cannot resolve {endpoint.Host}");
            }
            catch (SocketException e)
            {
                // Not a stack trace: say which option holds the name that does not resolve.
                throw new CommandException(ExitCodes.Failed, $"{option}: cannot resolve {endpoint.Host} ({e.Message}) — use an IP address");
            }
        }
        var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            socket.Bind(new IPEndPoint(address, endpoint.Port));
            socket.Listen(16);
            return socket;
        }
        catch (SocketException e)
        {
            socket.Dispose();
            throw new CommandException(ExitCodes.Failed, $"{option} {endpoint}: {e.Message}");
        }
    }

    private static Endpoint Parse(string text, string option, bool allowZero) =>
        Endpoint.TryParse(text, allowZero, out var endpoint, out var error)
            ? endpoint!
            : throw new CommandException(ExitCodes.Usage, $"{option}: {error}");
}
