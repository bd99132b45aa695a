using Bastion.Tor;

namespace Bastion.Daemon.Tor;

/// <summary>Authenticates a control connection: SAFECOOKIE with a cookie file Bastion names itself, NULL for an open port.</summary>
internal static class TorAuthentication
{
    // cookieFile: from Bastion's own knowledge (its torrc, or onion.tor.cookieFile); null only for a port that offers
    // NULL authentication. The COOKIEFILE the port names is never read: whoever listens there chose it.
    public static async Task AuthenticateAsync(TorControlConnection control, string? cookieFile, CancellationToken cancellationToken)
    {
        var info = await control.SendOkAsync(TorCommand.Line("PROTOCOLINFO", "1"), cancellationToken).ConfigureAwait(false);
        var auth = info.Lines.Select(l => TorArguments.Parse(l.Text)).FirstOrDefault(a => a.Word(0) == "AUTH")
            ?? throw new TorProtocolException("PROTOCOLINFO did not name the authentication methods");
        var methods = (auth["METHODS"] ?? "").Split(',');
        if (methods.Contains("SAFECOOKIE") && cookieFile is not null)
        {
            var cookie = TorCookieFile.Read(cookieFile);
            var clientNonce = SafeCookie.NewClientNonce();
            var challenge = await control.SendOkAsync(
                TorCommand.Line("AUTHCHALLENGE", "SAFECOOKIE", Convert.ToHexString(clientNonce)), cancellationToken).ConfigureAwait(false);
            var args = TorArguments.Parse(challenge.Lines[0].Text);
            var serverHash = FromHex(args["SERVERHASH"]);
            var serverNonce = FromHex(args["SERVERNONCE"]);
            if (serverHash is null || serverNonce is null)
            {
                throw new TorProtocolException("AUTHCHALLENGE answer lacks SERVERHASH or SERVERNONCE");
            }
            if (!SafeCookie.ServerHashMatches(cookie, clientNonce, serverNonce, serverHash))
            {
                throw new TorProtocolException($"the control port at {control.Endpoint} does not know the cookie in {cookieFile}: it is not the expected tor");
            }
            var clientHash = SafeCookie.ClientHash(cookie, clientNonce, serverNonce);
            await control.SendOkAsync(TorCommand.Line("AUTHENTICATE", Convert.ToHexString(clientHash)), cancellationToken).ConfigureAwait(false);
            return;
        }
        if (methods.Contains("NULL"))
        {
            await control.SendOkAsync(TorCommand.Line("AUTHENTICATE"), cancellationToken).ConfigureAwait(false);
            return;
        }
        if (methods.Contains("COOKIE"))
        {
            throw new TorProtocolException(
                $"the control port at {control.Endpoint} offers COOKIE but not SAFECOOKIE authentication: Bastion does not hand a cookie file it names to a port that cannot prove it knows it (a tor that old or a port that is not tor's?)");
        }
        throw new TorProtocolException(
            $"tor at {control.Endpoint} offers only {string.Join(',', methods)} authentication; Bastion needs cookie authentication: set CookieAuthentication 1 in that tor's torrc");
    }

    private static byte[]? FromHex(string? hex)
    {
        if (hex is null || hex.Length != 64)
        {
            return null;
        }
        try
        {
            return Convert.FromHexString(hex);
        }
        catch (FormatException)
        {
            return null;
        }
    }
}
