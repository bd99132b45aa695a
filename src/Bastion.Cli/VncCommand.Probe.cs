using System.CommandLine;
using System.Diagnostics;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Text;
using Bastion.Config;
using Bastion.Pki;
using Bastion.Tls;
using Bastion.Vnc;

namespace Bastion.Cli;

/// <summary>
/// <c>vnc probe (--socket PATH | --connect HOST:PORT --cert C --key K --ca CA) --password-file F [--timeout D]</c>: the RFB
/// handshake up to ServerInit (version, VNC authentication, ClientInit shared), as the daemon's health probe does it, either
/// on Xvnc's socket or end to end through the mutual-TLS endpoint with an admin's client certificate. Prints one verdict
/// line on stdout (<c>up: 1280x800 'name' in 12 ms</c>, <c>auth broken: …</c>, <c>dead: …</c>); exit 0 only when up.
/// A drill for admins and the measuring stick of scripts/bench/vnc-fallback.sh. The password is never printed.
/// </summary>
internal sealed partial class VncCommand
{
    private static readonly TimeSpan DefaultProbeTimeout = TimeSpan.FromSeconds(10);
    private const int ShownNameLength = 80;

    private Command CreateProbe()
    {
        var socket = new Option<string>("--socket") { Description = "Probe Xvnc's Unix socket directly ({runtimeDir}/vnc/rfb.sock; root only)", HelpName = "PATH" };
        var connect = new Option<string>("--connect") { Description = "Probe through the mutual-TLS endpoint at this address, as a viewer would", HelpName = "HOST:PORT" };
        var cert = new Option<string>("--cert") { Description = "With --connect: your client certificate (PEM), from `bastionctl pki issue client NAME`", HelpName = "FILE" };
        var key = new Option<string>("--key") { Description = "With --connect: its private key (PEM)", HelpName = "FILE" };
        var ca = new Option<string>("--ca") { Description = "With --connect: the session CA certificate that must have signed the endpoint's certificate", HelpName = "FILE" };
        var passwordFile = new Option<string>("--password-file") { Description = "The VNC password, in vncpasswd format (the daemon's generated {stateDir}/vnc/passwd, or `vncpasswd -f`)", HelpName = "FILE", Required = true };
        var timeout = new Option<string>("--timeout") { Description = "Give up after this long (connect, TLS, RFB together) [default: 10s]", HelpName = "DURATION" };
        var command = new Command("probe", "Check the desktop end to end: RFB handshake, VNC authentication, ServerInit; exit 0 only when it is up")
        {
            socket, connect, cert, key, ca, passwordFile, timeout,
        };
        command.Validators.Add(result =>
        {
            var viaSocket = result.GetValue(socket) is not null;
            var viaTls = result.GetValue(connect) is not null;
            if (viaSocket == viaTls)
            {
                result.AddError(viaSocket
                    ? "give either --socket PATH or --connect HOST:PORT, not both"
                    : "give --socket PATH (Xvnc's socket) or --connect HOST:PORT (the mutual-TLS endpoint)");
            }
            else if (viaTls && (result.GetValue(cert) is null || result.GetValue(key) is null || result.GetValue(ca) is null))
            {
                result.AddError("--connect needs --cert, --key and --ca (your client certificate, its key, the session CA)");
            }
            else if (viaSocket && (result.GetValue(cert) is not null || result.GetValue(key) is not null || result.GetValue(ca) is not null))
            {
                result.AddError("--cert, --key and --ca go with --connect; --socket talks to Xvnc directly, without TLS");
            }
        });
        command.SetAction(async (parseResult, cancellationToken) =>
        {
            try
            {
                var limit = ParseTimeout(parseResult.GetValue(timeout));
                var password = ReadPassword(parseResult.GetValue(passwordFile)!);
                var result = parseResult.GetValue(socket) is { } path
                    ? await ProbeSocketAsync(path, password, limit, cancellationToken).ConfigureAwait(false)
                    : await ProbeTlsAsync(parseResult.GetValue(connect)!, parseResult.GetValue(cert)!, parseResult.GetValue(key)!,
                        parseResult.GetValue(ca)!, password, limit, cancellationToken).ConfigureAwait(false);
                await console.Output.WriteLineAsync(result.Line).ConfigureAwait(false);
                return result.Up ? ExitCodes.Ok : ExitCodes.Failed;
            }
            catch (CommandException e)
            {
                console.Message(e.Message);
                return e.ExitCode;
            }
            finally
            {
                await console.Output.FlushAsync(CancellationToken.None).ConfigureAwait(false);
            }
        });
        return command;
    }

    private sealed record ProbeVerdict(bool Up, string Line);

    private static TimeSpan ParseTimeout(string? text)
    {
        if (text is null)
        {
            return DefaultProbeTimeout;
        }
        if (!Durations.TryParse(text, out var value, out var error))
        {
            throw new CommandException(ExitCodes.Usage, $"--timeout: {error}");
        }
        if (value < TimeSpan.FromMilliseconds(100) || value > TimeSpan.FromHours(1))
        {
            throw new CommandException(ExitCodes.Usage, $"--timeout {text}: give 100ms to 1h");
        }
        return value;
    }

    private static string ReadPassword(string path)
    {
        try
        {
            return VncPasswordFile.Read(path);
        }
        catch (InvalidDataException e)
        {
            throw new CommandException(ExitCodes.Failed, "--password-file: " + e.Message);
        }
    }

    private async Task<ProbeVerdict> ProbeSocketAsync(string path, string password, TimeSpan limit, CancellationToken cancellationToken)
    {
        var watch = Stopwatch.StartNew();
        var result = await RfbProbe.ProbeUnixAsync(path, password, limit, console.Time, cancellationToken).ConfigureAwait(false);
        return Verdict(result, watch.Elapsed, $"socket {path}");
    }

    private async Task<ProbeVerdict> ProbeTlsAsync(string address, string cert, string key, string ca, string password, TimeSpan limit, CancellationToken cancellationToken)
    {
        if (!Endpoint.TryParse(address, false, out var endpoint, out var error))
        {
            throw new CommandException(ExitCodes.Usage, $"--connect: {error}");
        }
        TlsCredentials credentials;
        try
        {
            credentials = new EndpointCredentials(cert, key, ca, advertiseCa: false).Current();
        }
        catch (CredentialsException e)
        {
            throw new CommandException(ExitCodes.Failed, e.Message);
        }
        var validator = new PeerValidator(CertificateRole.Server, [], null, console.Time);
        var watch = Stopwatch.StartNew();
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(limit);
        var stage = "connect";
        PeerVerdict? server = null;
        try
        {
            var tcp = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await tcp.ConnectAsync(endpoint!.Host, endpoint.Port, deadline.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is SocketException or OperationCanceledException)
            {
                tcp.Dispose();
                if (e is SocketException socketError)
                {
                    return new ProbeVerdict(false, $"dead: cannot connect to {endpoint}: {socketError.Message} (lowered, or not listening there)");
                }
                throw;
            }
            await using var tls = new SslStream(new NetworkStream(tcp, ownsSocket: true), leaveInnerStreamOpen: false);
            stage = "TLS handshake";
            var options = TlsPolicy.Client(credentials.Context, endpoint.Host, (_, certificate, _, _) =>
            {
                server = validator.Validate(certificate, credentials.Ca);
                return server.Accepted;
            });
            try
            {
                await tls.AuthenticateAsClientAsync(options, deadline.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is AuthenticationException or IOException)
            {
                var why = server is { Accepted: false } refused
                    ? $"refused the server's certificate (subject {refused.Subject} serial {refused.Serial}): {refused.Reason}"
                    : $"TLS handshake failed: {e.Message}";
                return new ProbeVerdict(false, $"dead: {endpoint}: {why}");
            }
            stage = "RFB handshake";
            var result = await RfbProbe.ProbeAsync(tls, password, deadline.Token).ConfigureAwait(false);
            if (result.Health == RfbHealth.Dead)
            {
                // A server that refuses our certificate closes right after the TLS handshake (TLS 1.3): it looks like EOF here.
                result = result with { Detail = result.Detail + " (if the endpoint refused our certificate, bastiond's log names the reason)" };
            }
            return Verdict(result, watch.Elapsed, $"{endpoint} over mutual TLS");
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return new ProbeVerdict(false, $"dead: {endpoint}: no answer within {Durations.Format(limit)} (stuck in the {stage})");
        }
    }

    private static ProbeVerdict Verdict(RfbProbeResult result, TimeSpan elapsed, string where) => result.Health switch
    {
        RfbHealth.Up when result.ServerInit is { } init => new(true,
            $"up: {init.Width}x{init.Height} '{Printable(init.Name)}' in {(long)elapsed.TotalMilliseconds} ms ({where})"),
        RfbHealth.Up => new(true, $"up: {result.Detail} in {(long)elapsed.TotalMilliseconds} ms ({where})"),
        RfbHealth.AuthBroken => new(false, $"auth broken: {result.Detail} ({where})"),
        _ => new(false, $"dead: {result.Detail} ({where})"),
    };

    /// <summary>A peer's desktop name, safe for a terminal: control characters replaced, shortened.</summary>
    private static string Printable(string name)
    {
        var text = new StringBuilder(Math.Min(name.Length, ShownNameLength));
        foreach (var c in name.Take(ShownNameLength))
        {
            text.Append(char.IsControl(c) ? '?' : c);
        }
        return name.Length > ShownNameLength ? text + "…" : text.ToString();
    }
}
