using System.CommandLine;
using System.Globalization;
using Bastion.Config;
using Bastion.Ssh;
using Renci.SshNet;
using Renci.SshNet.Common;

namespace Bastion.Cli;

/// <summary>
/// <c>bastionctl ssh hostkey HOST[:PORT]</c>: asks a server for each kind of host key it has (one connection per key
/// family, stopped right after the key exchange: no login is attempted) and prints the SHA256 fingerprints with a
/// ready-to-paste <c>hostKey:</c> snippet. It trusts nothing itself: what it prints is what the network said, so the
/// admin is told to compare it with the server's own keys over a channel they trust before pinning it.
/// </summary>
internal sealed class SshHostKeyCommand(CliConsole console)
{
    private static readonly string[][] Families =
    [
        ["ssh-ed25519"],
        ["ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521"],
        ["rsa-sha2-512", "rsa-sha2-256"],
    ];

    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(15);

    public Command Create()
    {
        var target = new Argument<string>("HOST[:PORT]") { Description = "The SSH server (port 22 when omitted; [v6addr]:port for IPv6)" };
        var socks = new Option<string?>("--socks") { Description = "Connect through this SOCKS5 proxy (HOST:PORT), e.g. tor's SocksPort for a .onion server" };
        var hostkey = new Command("hostkey", "Print an SSH server's host key fingerprints, to pin in tunnels[].server.hostKey") { target, socks };
        hostkey.SetAction(parse => console.Run(() => Run(parse.GetValue(target)!, parse.GetValue(socks))));
        return new Command("ssh", "SSH helpers: `ssh hostkey HOST[:PORT]` prints a server's host key fingerprints to pin") { hostkey };
    }

    private int Run(string target, string? socksText)
    {
        if (!TryParseEndpoint(target, 22, out var server))
        {
            console.Message($"'{target}' is not HOST or HOST:PORT (e.g. jump.example.org:2222)");
            return ExitCodes.Usage;
        }
        Endpoint? socks = null;
        if (socksText is not null)
        {
            if (!TryParseEndpoint(socksText, 0, out var s) || s.Port == 0)
            {
                console.Message($"--socks '{socksText}' is not HOST:PORT (e.g. 127.0.0.1:9050)");
                return ExitCodes.Usage;
            }
            socks = s;
        }
        var found = new List<(string Type, string Fingerprint)>();
        string? lastError = null;
        foreach (var family in Families)
        {
            var (key, error) = Fetch(server, socks, family);
            if (key is { } k && !found.Contains(k))
            {
                found.Add(k);
            }
            lastError ??= error;
            if (key is null && error is not null && !error.StartsWith("offers no", StringComparison.Ordinal))
            {
                break; // unreachable: asking again for another key type will not help
            }
        }
        if (found.Count == 0)
        {
            console.Message($"no host key from {server}: {lastError}");
            return ExitCodes.Failed;
        }
        var o = console.Output;
        o.WriteLine($"Host keys {server}{(socks is null ? "" : $" (via SOCKS {socks})")} presented just now — NOT verified:");
        foreach (var (type, fingerprint) in found)
        {
            o.WriteLine($"  {type,-22} {fingerprint}");
        }
        o.WriteLine();
        o.WriteLine("Anyone on the network path could have answered. Before pinning, compare these with the server's own");
        o.WriteLine("keys over a channel you trust (its console, your config management), e.g. on the server:");
        o.WriteLine("  for k in /etc/ssh/ssh_host_*_key.pub; do ssh-keygen -lf \"$k\"; done");
        o.WriteLine();
        o.WriteLine("Then pin them in the tunnel's server section:");
        o.WriteLine("    hostKey:");
        o.WriteLine("      fingerprints:");
        foreach (var (type, fingerprint) in found)
        {
            o.WriteLine($"        - {fingerprint}   # {type}");
        }
        return ExitCodes.Ok;
    }

    /// <summary>One connection offering only <paramref name="family"/>: the key exchange delivers that key, then we refuse it.</summary>
    private static ((string, string)? Key, string? Error) Fetch(Endpoint server, Endpoint? socks, string[] family)
    {
        // The user name is never used: the connection ends at the host key, before authentication.
        var auth = new NoneAuthenticationMethod("bastion-hostkey");
        // Credentials for SOCKS5 although no proxy here needs them: SSH.NET fails with a NullReferenceException when
        // the proxy picks username/password (tor's SocksPort does) and none were given; OpenSSH's -D picks "no auth".
        var info = socks is { } s
            ? new ConnectionInfo(server.Host, server.Port, auth.Username, ProxyTypes.Socks5, s.Host, s.Port, "bastion", "hostkey", auth)
            : new ConnectionInfo(server.Host, server.Port, auth.Username, auth);
        info.Timeout = Timeout;
        Keep(info.HostKeyAlgorithms, family);
        Keep(info.KeyExchangeAlgorithms, SshAlgorithms.KeyExchange);
        Keep(info.Encryptions, SshAlgorithms.Ciphers);
        Keep(info.HmacAlgorithms, SshAlgorithms.Macs);
        (string, string)? seen = null;
        using var client = new SshClient(info);
        client.HostKeyReceived += (_, e) =>
        {
            seen = (e.HostKeyName, SshFingerprint.Of(e.HostKey));
            e.CanTrust = false; // stop here: nothing is trusted, nothing is sent
        };
        try
        {
            using var cts = new CancellationTokenSource(Timeout);
            client.ConnectAsync(cts.Token).GetAwaiter().GetResult();
        }
        catch (Exception e) when (seen is null)
        {
            return (null, e switch
            {
                SshConnectionException when e.Message.Contains("host key", StringComparison.OrdinalIgnoreCase) || e.Message.Contains("algorithm", StringComparison.OrdinalIgnoreCase)
                    => $"offers no {family[0]} key",
                System.Net.Sockets.SocketException se => se.SocketErrorCode switch
                {
                    System.Net.Sockets.SocketError.ConnectionRefused => "connection refused (no sshd on that port?)",
                    System.Net.Sockets.SocketError.HostNotFound or System.Net.Sockets.SocketError.TryAgain => $"cannot resolve {server.Host}",
                    var code => code.ToString(),
                },
                OperationCanceledException or SshOperationTimeoutException => $"no answer within {Timeout.TotalSeconds:0}s",
                ProxyException p => "SOCKS proxy: " + p.Message,
                _ => e.Message,
            });
        }
        catch (Exception) when (seen is not null)
        {
            // expected: we refused the key to end the connection
        }
        return (seen, null);
    }

    private static void Keep<T>(IDictionary<string, T> algorithms, IReadOnlyList<string> allowed)
    {
        var keep = SshAlgorithms.Restrict(algorithms.Keys, allowed).Select(n => (n, algorithms[n])).ToList();
        algorithms.Clear();
        foreach (var (n, v) in keep)
        {
            algorithms.Add(n, v);
        }
    }

    private static bool TryParseEndpoint(string text, int defaultPort, out Endpoint endpoint)
    {
        endpoint = new Endpoint("", 0);
        string host;
        var port = defaultPort;
        if (text.StartsWith('['))
        {
            var close = text.IndexOf(']', StringComparison.Ordinal);
            if (close < 0)
            {
                return false;
            }
            host = text[1..close];
            var rest = text[(close + 1)..];
            if (rest.Length > 0 && (!rest.StartsWith(':') || !int.TryParse(rest[1..], NumberStyles.None, CultureInfo.InvariantCulture, out port)))
            {
                return false;
            }
        }
        else if (text.Count(c => c == ':') == 1)
        {
            var colon = text.IndexOf(':', StringComparison.Ordinal);
            host = text[..colon];
            if (!int.TryParse(text[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out port))
            {
                return false;
            }
        }
        else
        {
            host = text; // a bare name, or a bare IPv6 address
        }
        if (host.Length == 0 || port is < 0 or > 65535 || host.Any(c => char.IsWhiteSpace(c) || c is '/' or '@'))
        {
            return false;
        }
        endpoint = new Endpoint(host, port);
        return true;
    }
}
