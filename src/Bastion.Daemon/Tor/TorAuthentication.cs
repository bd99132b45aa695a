using Bastion.Tor;

namespace Bastion.Daemon.Tor;

/// <summary>Authenticates a control connection: SAFECOOKIE when tor offers it, plain COOKIE otherwise, NULL for an open port.</summary>
internal static class TorAuthentication
{
    public static async Task AuthenticateAsync(TorControlConnection control, string? cookieFileOverride, CancellationToken cancellationToken)
    {
        var info = await control.SendOkAsync(TorCommand.Line("PROTOCOLINFO", "1"), cancellationToken).ConfigureAwait(false);
        var auth = info.Lines.Select(l => TorArguments.Parse(l.Text)).FirstOrDefault(a => a.Word(0) == "AUTH")
            ?? throw new TorProtocolException("PROTOCOLINFO did not name the authentication methods");
        var methods = (auth["METHODS"] ?? "").Split(',');
        var cookieFile = cookieFileOverride ?? auth["COOKIEFILE"];
        if (methods.Contains("SAFECOOKIE") && cookieFile is not null)
        {
            var cookie = await ReadCookieAsync(cookieFile, cancellationToken).ConfigureAwait(false);
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
        // Plain COOKIE sends the file's bytes to whoever listens on the port, and the file is the one that listener named:
        // only for our own tor's cookie file. Every tor since 0.2.3 offers SAFECOOKIE with it anyway.
        if (methods.Contains("COOKIE") && cookieFileOverride is not null)
        {
            var cookie = await ReadCookieAsync(cookieFileOverride, cancellationToken).ConfigureAwait(false);
            await control.SendOkAsync(TorCommand.Line("AUTHENTICATE", Convert.ToHexString(cookie)), cancellationToken).ConfigureAwait(false);
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

    private static async Task<byte[]> ReadCookieAsync(string path, CancellationToken cancellationToken)
    {
        byte[] cookie;
        try
        {
            cookie = await File.ReadAllBytesAsync(path, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new TorProtocolException($"cannot read tor's control cookie {path}: {e.Message} (bastiond must be able to read it, e.g. be in the debian-tor group)");
        }
        return cookie.Length == SafeCookie.CookieLength
            ? cookie
            : throw new TorProtocolException($"tor's control cookie {path} is {cookie.Length} bytes, not {SafeCookie.CookieLength}");
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
