using Bastion.IntegrationTests.Infrastructure;

namespace Bastion.IntegrationTests.Tls;

/// <summary>The outside judge: <c>openssl s_client</c> against an endpoint, with or without a client certificate.</summary>
internal static class OpenSslClient
{
    /// <summary>Connects, sends a line, and returns what happened. Success = the echo came back.</summary>
    public static async Task<CommandResult> RunAsync(int port, string caPath, string? cert = null, string? key = null, params string[] extra)
    {
        var args = new List<string> { "-c", "" };
        var inner = new List<string> { "openssl", "s_client", "-connect", $"127.0.0.1:{port}", "-CAfile", caPath, "-verify_return_error" };
        if (cert is not null)
        {
            inner.AddRange(["-cert", cert, "-key", key!]);
        }
        inner.AddRange(extra);
        // A line in; a refused peer sees the server close right after the handshake, so s_client ends quickly.
        args[1] = "echo ping-through-tls | timeout 10 " + string.Join(' ', inner.Select(Quote)) + " 2>&1";
        return await ExternalCommand.RunAsync("/bin/sh", args, TimeSpan.FromSeconds(20));
    }

    /// <summary>
    /// Like <see cref="RunAsync"/> but keeps the connection open for a moment after the line, so that an accepted session's
    /// echo is read before s_client closes (stdin's EOF would otherwise end it first under TLS 1.3).
    /// </summary>
    public static async Task<CommandResult> EchoAsync(int port, string caPath, string cert, string key)
    {
        var inner = new List<string> { "openssl", "s_client", "-connect", $"127.0.0.1:{port}", "-CAfile", caPath, "-verify_return_error", "-cert", cert, "-key", key };
        var script = "(echo ping-through-tls; sleep 2) | timeout 15 " + string.Join(' ', inner.Select(Quote)) + " 2>&1";
        return await ExternalCommand.RunAsync("/bin/sh", ["-c", script], TimeSpan.FromSeconds(25));
    }

    private static string Quote(string s) => "'" + s.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
}
