// CA1873: these log calls run once per connection, never in the relay loop; the cost is irrelevant.
#pragma warning disable CA1873

using System.Buffers.Binary;
using System.Globalization;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using Bastion.Config;
using Bastion.Daemon.Vnc;
using Bastion.Tls;
using Bastion.Vnc;
using Microsoft.Extensions.Logging;

namespace Bastion.Daemon.Tls;

// vnc.stockViewers: x509vnc (opt-in). A viewer that waits for the server to speak gets RFB 3.8 with one security type,
// VeNCrypt (19), version 0.2, one subtype, X509Vnc (261): a TLS handshake with the endpoint's server certificate and NO
// client certificate, then, inside TLS, the VNC authentication of the real Xvnc behind it, which Bastion relays (challenge
// to the viewer, response to Xvnc, SecurityResult back) and watches for the verdict. Wrong passwords count per source
// address (there is no certificate to count them against); mutual-TLS clients from that address are not affected.
public sealed partial class TlsEndpoint
{
    private const byte SecurityTypeVeNCrypt = 19;
    private const byte SecurityTypeVncAuth = 2;
    private const uint VeNCryptX509Vnc = 261;

    /// <summary>How the viewer is named in logs and status: it has no certificate, so no subject and no serial.</summary>
    private const string X509VncPeer = "X509Vnc (no client certificate)";

    /// <summary>How long a viewer has to answer the VNC challenge (a human types the password).</summary>
    private static readonly TimeSpan X509VncPasswordWait = TimeSpan.FromSeconds(90);

    /// <summary>The key under which wrong X509Vnc passwords are counted in the limiter (apart from certificate serials).</summary>
    private static string X509VncKey(IPAddress ip) =>
        "x509vnc " + (ip.IsIPv4MappedToIPv6 ? ip.MapToIPv4() : ip).ToString();

    /// <summary>
    /// Serves one stock viewer over VeNCrypt X509Vnc, from the server's RFB version to the end of the relay. Returns true
    /// when the VNC password was accepted and the session relayed.
    /// </summary>
    private async Task<bool> ServeX509VncAsync(Socket socket, SslStream ssl, PendingHandshake pending, TlsCredentials credentials,
        Supervision.IComponentContext context, IPAddress ip, string address, CancellationToken cancellationToken)
    {
        var limiter = _limiter!;
        var key = X509VncKey(ip);
        using var deadline = new Deadline(TlsPolicy.HandshakeTimeout, context.Time, cancellationToken, pending.Evicted);
        var raw = new NetworkStream(socket, ownsSocket: false);
        string? step = "RFB version";
        try
        {
            await raw.WriteAsync("RFB 003.008\n"u8.ToArray(), deadline.Token).ConfigureAwait(false);
            var version = new byte[12];
            await raw.ReadExactlyAsync(version, deadline.Token).ConfigureAwait(false);
            if (!pending.Talking())
            {
                Refuse(context, ip, address, null, $"X509Vnc: {limiter.Limits.MaxPendingPerAddress} handshakes in progress from this address (or {limiter.Limits.MaxPending} in all); try again", HandshakeFailure.Silent);
                return false;
            }
            if (RfbText.VersionMinor(version) is not (>= 7))
            {
                // RFB 3.3 has no security-type list to offer VeNCrypt in; send it the usual explanation.
                await SendSecurityFailureAsync(raw, version, "This Bastion desktop offers VeNCrypt X509Vnc only to RFB 3.7+ viewers; use TigerVNC's vncviewer -SecurityTypes X509Vnc -X509CA ca.crt, or bastionctl connect (see the README).", deadline.Token).ConfigureAwait(false);
                Refuse(context, ip, address, null, $"X509Vnc: RFB version {RfbText.PrintableBytes(version)} cannot negotiate VeNCrypt; told it so", HandshakeFailure.Protocol);
                return false;
            }
            if (limiter.IsCertificateBlocked(key))
            {
                await SendSecurityFailureAsync(raw, version, $"Too many wrong VNC passwords from your address in the last minute; try again later (a client certificate through bastionctl connect is not affected).", deadline.Token).ConfigureAwait(false);
                Refuse(context, ip, address, null, $"X509Vnc: {limiter.MaxFailuresPerMinute} wrong VNC passwords from this address in the last minute; refused until they age out", HandshakeFailure.PasswordLimit);
                return false;
            }
            step = "VeNCrypt negotiation";
            await raw.WriteAsync(new byte[] { 1, SecurityTypeVeNCrypt }, deadline.Token).ConfigureAwait(false);
            var chosen = new byte[1];
            await raw.ReadExactlyAsync(chosen, deadline.Token).ConfigureAwait(false);
            if (chosen[0] != SecurityTypeVeNCrypt)
            {
                Refuse(context, ip, address, null, $"X509Vnc: the viewer chose security type {chosen[0]}, not VeNCrypt (19)", HandshakeFailure.Protocol);
                return false;
            }
            await raw.WriteAsync(new byte[] { 0, 2 }, deadline.Token).ConfigureAwait(false); // VeNCrypt version 0.2
            var clientVersion = new byte[2];
            await raw.ReadExactlyAsync(clientVersion, deadline.Token).ConfigureAwait(false);
            if (clientVersion[0] != 0 || clientVersion[1] != 2)
            {
                await raw.WriteAsync(new byte[] { 0xFF }, deadline.Token).ConfigureAwait(false);
                Refuse(context, ip, address, null, $"X509Vnc: the viewer asked for VeNCrypt {clientVersion[0]}.{clientVersion[1]}; only 0.2 is offered", HandshakeFailure.Protocol);
                return false;
            }
            var subtypes = new byte[] { 0, 1, 0, 0, 0, 0 }; // status 0 (version accepted), 1 subtype: X509Vnc
            BinaryPrimitives.WriteUInt32BigEndian(subtypes.AsSpan(2), VeNCryptX509Vnc);
            await raw.WriteAsync(subtypes, deadline.Token).ConfigureAwait(false);
            var subtype = new byte[4];
            await raw.ReadExactlyAsync(subtype, deadline.Token).ConfigureAwait(false);
            if (BinaryPrimitives.ReadUInt32BigEndian(subtype) != VeNCryptX509Vnc)
            {
                await raw.WriteAsync(new byte[] { 0 }, deadline.Token).ConfigureAwait(false);
                Refuse(context, ip, address, null, $"X509Vnc: the viewer chose VeNCrypt subtype {BinaryPrimitives.ReadUInt32BigEndian(subtype)}, not X509Vnc (261)", HandshakeFailure.Protocol);
                return false;
            }
            await raw.WriteAsync(new byte[] { 1 }, deadline.Token).ConfigureAwait(false); // accepted: TLS starts
            step = "TLS handshake";
            var options = TlsPolicy.Server(credentials.Context, (_, certificate, _, _) => certificate is null);
            // X509Vnc authenticates the server only; the VNC password is the client's factor. A viewer that sends a certificate
            // anyway is refused: nothing here would check it, and it belongs on the mutual-TLS path.
            options.ClientCertificateRequired = false;
            // TLS 1.2 only on this path. Under TLS 1.3 the server sends session tickets right after the handshake; when a
            // ticket and Xvnc's challenge reach TigerVNC's viewer in one read, GnuTLS keeps the challenge in its own buffer
            // while the viewer waits for the socket to become readable again: the viewer stalls (seen in loaded full runs
            // only). TLS 1.2 sends nothing after the handshake (tickets cannot be switched off under TLS 1.3 here), with the
            // same ECDHE + AEAD suites. The mutual-TLS path keeps TLS 1.3.
            options.EnabledSslProtocols = SslProtocols.Tls12;
            await ssl.AuthenticateAsServerAsync(options, deadline.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is AuthenticationException or IOException or OperationCanceledException or SocketException or EndOfStreamException)
        {
            if (!cancellationToken.IsCancellationRequested)
            {
                var why = e is OperationCanceledException
                    ? pending.WasEvicted ? "gave way to a newer handshake" : $"not completed within {Durations.Format(TlsPolicy.HandshakeTimeout)}"
                    : e.InnerException?.Message ?? e.Message;
                Refuse(context, ip, address, null, $"X509Vnc: {step} failed: {why}",
                    e is AuthenticationException ? HandshakeFailure.Protocol : HandshakeFailure.Silent);
            }
            return false;
        }
        return await RelayX509VncAsync(socket, ssl, pending, deadline, context, ip, address, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Inside TLS: VNC authentication with Xvnc relayed and judged, then the session relayed.</summary>
    private async Task<bool> RelayX509VncAsync(Socket socket, SslStream ssl, PendingHandshake pending, Deadline deadline,
        Supervision.IComponentContext context, IPAddress ip, string address, CancellationToken cancellationToken)
    {
        var limiter = _limiter!;
        Socket backend;
        try
        {
            backend = await BackendConnector.ConnectAsync(definition.Backend, deadline.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or IOException)
        {
            if (!cancellationToken.IsCancellationRequested)
            {
                TlsLog.BackendUnreachable(logger, Name, definition.Backend.ToString(), address, "-", BackendConnector.Describe(e, definition.Backend));
            }
            return false;
        }
        using (backend)
        {
            var xvnc = new NetworkStream(backend, ownsSocket: false);
            string verdict;
            try
            {
                // Bastion is Xvnc's client: version exchange and security type VncAuth, exactly as a viewer would.
                var version = new byte[12];
                await xvnc.ReadExactlyAsync(version, deadline.Token).ConfigureAwait(false);
                await xvnc.WriteAsync("RFB 003.008\n"u8.ToArray(), deadline.Token).ConfigureAwait(false);
                var count = new byte[1];
                await xvnc.ReadExactlyAsync(count, deadline.Token).ConfigureAwait(false);
                var types = new byte[count[0]];
                await xvnc.ReadExactlyAsync(types, deadline.Token).ConfigureAwait(false);
                if (count[0] == 0 || Array.IndexOf(types, SecurityTypeVncAuth) < 0)
                {
                    TlsLog.BackendUnreachable(logger, Name, definition.Backend.ToString(), address, "-", "the desktop did not offer VNC authentication (type 2)");
                    return false;
                }
                await xvnc.WriteAsync(new byte[] { SecurityTypeVncAuth }, deadline.Token).ConfigureAwait(false);
                var challenge = new byte[16];
                await xvnc.ReadExactlyAsync(challenge, deadline.Token).ConfigureAwait(false);

                // The viewer now asks its user for the password: a longer wait, still cut short when the budget needs room.
                deadline.Restart(X509VncPasswordWait);
                await ssl.WriteAsync(challenge, deadline.Token).ConfigureAwait(false);
                var response = new byte[16];
                await ssl.ReadExactlyAsync(response, deadline.Token).ConfigureAwait(false);
                await xvnc.WriteAsync(response, deadline.Token).ConfigureAwait(false);
                deadline.Restart(TlsPolicy.HandshakeTimeout);
                var result = new byte[4];
                await xvnc.ReadExactlyAsync(result, deadline.Token).ConfigureAwait(false);
                await ssl.WriteAsync(result, deadline.Token).ConfigureAwait(false);
                if (BinaryPrimitives.ReadUInt32BigEndian(result) == 0)
                {
                    verdict = "";
                }
                else
                {
                    var length = new byte[4];
                    await xvnc.ReadExactlyAsync(length, deadline.Token).ConfigureAwait(false);
                    var reason = new byte[Math.Min(BinaryPrimitives.ReadUInt32BigEndian(length), 1024u)];
                    await xvnc.ReadExactlyAsync(reason, deadline.Token).ConfigureAwait(false);
                    BinaryPrimitives.WriteUInt32BigEndian(length, (uint)reason.Length);
                    await ssl.WriteAsync(length, deadline.Token).ConfigureAwait(false);
                    await ssl.WriteAsync(reason, deadline.Token).ConfigureAwait(false);
                    await ssl.ShutdownAsync().WaitAsync(deadline.Token).ConfigureAwait(false);
                    verdict = reason.Length == 0 ? "authentication failed" : RfbText.PrintableBytes(reason);
                }
            }
            catch (Exception e) when (e is AuthenticationException or IOException or OperationCanceledException or SocketException or EndOfStreamException)
            {
                if (!cancellationToken.IsCancellationRequested)
                {
                    // Cut off before a verdict (the viewer gave up, or too slow): a silent failure, not a wrong password.
                    Refuse(context, ip, address, null, $"X509Vnc: VNC authentication not completed: {(e is OperationCanceledException ? pending.WasEvicted ? "gave way to a newer handshake" : "timed out" : e.Message)}", HandshakeFailure.Silent);
                }
                return false;
            }
            if (verdict.Length > 0)
            {
                VncLog.AuthFailed(logger, Name, X509VncPeer, "-", address, verdict);
                var failures = Interlocked.Increment(ref _vncAuthFailures);
                context.SetDetail("vncAuthFailures", failures.ToString(CultureInfo.InvariantCulture));
                context.SetDetail("lastVncAuthFailure", $"{X509VncPeer} from {address}: {verdict}");
                if (limiter.RecordPasswordFailure(X509VncKey(ip)))
                {
                    TlsLog.Refused(logger, Name, address, X509VncPeer, "-", $"{limiter.MaxFailuresPerMinute} wrong VNC passwords over X509Vnc from this address in a minute; its X509Vnc attempts are refused until they age out (mutual-TLS clients are not affected)");
                }
                return false;
            }
            pending.Dispose(); // authenticated: the relay does not count against the pending budget
            Interlocked.Increment(ref _accepted);
            context.SetDetail("lastPeer", $"{X509VncPeer} from {address}");
            TlsLog.Accepted(logger, Name, address, X509VncPeer, "-", Protocol(ssl.SslProtocol), ssl.NegotiatedCipherSuite.ToString());
            VncLog.AuthSucceeded(logger, Name, X509VncPeer, "-", address);
            Interlocked.Increment(ref _active);
            Count(context);
            var gate = vncGates.For(Name);
            gate.ClientConnected(); // the desktop is not lowered automatically while a client is connected
            try
            {
                var relayed = await Relay.RunAsync(ssl, socket, backend, cancellationToken).ConfigureAwait(false);
                TlsLog.Closed(logger, Name, address, "-", relayed.FromTls, relayed.ToTls, relayed.Error is null ? "" : "; " + relayed.Error);
            }
            finally
            {
                gate.ClientDisconnected();
                Interlocked.Decrement(ref _active);
                Count(context);
            }
            return true;
        }
    }

    /// <summary>An RFB security failure with a reason, in the form the client's version expects (3.3: type 0; 3.7+: count 0).</summary>
    private static async Task SendSecurityFailureAsync(Stream stream, byte[] clientVersion, string text, CancellationToken cancellationToken)
    {
        var reason = System.Text.Encoding.UTF8.GetBytes(text);
        var is33 = RfbText.VersionMinor(clientVersion) is not (>= 7);
        var message = new byte[(is33 ? 4 : 1) + 4 + reason.Length];
        BinaryPrimitives.WriteUInt32BigEndian(message.AsSpan(is33 ? 4 : 1), (uint)reason.Length);
        reason.CopyTo(message, (is33 ? 4 : 1) + 4);
        await stream.WriteAsync(message, cancellationToken).ConfigureAwait(false);
    }
}
