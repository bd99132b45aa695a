using System.Net.Sockets;
using Bastion.Ssh;
using Renci.SshNet.Common;
using Renci.SshNet.Messages.Transport;

namespace Bastion.Daemon.Tunnels;

/// <summary>A classified SSH failure travelling as an exception from the session to its tunnels.</summary>
internal sealed class SshFailureException(SshFailure failure) : Exception(failure.Reason)
{
    public SshFailure Failure { get; } = failure;
}

/// <summary>Turns what SSH.NET and the socket layer throw into reasons an admin can act on.</summary>
internal static class SshFailures
{
    public static SshFailure Classify(Exception e, SshSessionKey key, TimeSpan connectTimeout, string? hostKeyVerdict)
    {
        var server = $"{key.Host}:{key.Port}";
        var via = key.Socks is { } socks ? $" (through the SOCKS proxy {socks})" : "";
        switch (e)
        {
            case SshFailureException f:
                return f.Failure;
            case SshConnectionException c when c.DisconnectReason == DisconnectReason.HostKeyNotVerifiable || hostKeyVerdict is not null:
                return new(SshFailureKind.HostKeyMismatch, HostKeyMismatchReason(key, hostKeyVerdict ?? "host key not trusted"));
            case SshAuthenticationException:
                return new(SshFailureKind.AuthenticationRejected,
                    $"authentication rejected: {server} did not accept user {key.User} with the key {key.Identity} — add {key.Identity}.pub to that user's authorized_keys (retried every 1m)");
            case ProxyException p:
                return new(SshFailureKind.ProxyFailed, $"SOCKS proxy {key.Socks} could not reach {server}: {p.Message}");
            case SocketException s when key.Socks is not null && IsConnectError(s):
                return new(SshFailureKind.ProxyFailed, $"SOCKS proxy {key.Socks} is not reachable ({s.SocketErrorCode}); is tor running?");
            case SocketException { SocketErrorCode: SocketError.ConnectionRefused }:
                return new(SshFailureKind.Refused, $"connection refused by {server}: no sshd listening there (server down or wrong port)");
            case SocketException { SocketErrorCode: SocketError.HostUnreachable or SocketError.NetworkUnreachable or SocketError.NetworkDown }:
                return new(SshFailureKind.Unreachable, $"{server} unreachable: no route (network down?)");
            case SocketException { SocketErrorCode: SocketError.HostNotFound or SocketError.TryAgain or SocketError.NoData }:
                return new(SshFailureKind.Unreachable, $"cannot resolve {key.Host} (DNS or no network yet)");
            case SocketException { SocketErrorCode: SocketError.TimedOut }:
            case SshOperationTimeoutException:
            case OperationCanceledException:
            case TimeoutException:
                return new(SshFailureKind.TimedOut, $"timed out: no SSH answer from {server}{via} within {Config.Durations.Format(connectTimeout)}");
            case SocketException { SocketErrorCode: SocketError.ConnectionReset or SocketError.ConnectionAborted or SocketError.Shutdown } s:
                return new(SshFailureKind.ConnectionLost, $"connection to {server}{via} lost ({s.SocketErrorCode})");
            case SshConnectionException c:
                return new(SshFailureKind.ConnectionLost, $"connection to {server}{via} lost: {c.Message}");
            case SocketException s:
                return new(SshFailureKind.Other, $"{server}: {s.SocketErrorCode}");
            default:
                return new(SshFailureKind.Other, $"{server}: {e.GetType().Name}: {e.Message}");
        }
    }

    public static string HostKeyMismatchReason(SshSessionKey key, string verdict) =>
        $"{verdict} — refused (retried every 5m; verify the server's key out of band with `bastionctl ssh hostkey {key.Host}:{key.Port}`)";

    private static bool IsConnectError(SocketException s) =>
        s.SocketErrorCode is SocketError.ConnectionRefused or SocketError.HostUnreachable or SocketError.NetworkUnreachable;
}
