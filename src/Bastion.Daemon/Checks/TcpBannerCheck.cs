using System.Globalization;
using System.Net.Sockets;
using System.Text;
using Bastion.Config;
using Bastion.Supervision;

namespace Bastion.Daemon.Checks;

/// <summary>
/// A <c>checks:</c> entry: connects to an endpoint every interval and, when <c>expect</c> is set, reads the
/// first line and compares its prefix (sshd answers <c>SSH-2.0-…</c> before anything else). Running while
/// the target answers; Degraded after a failed probe; Failed after <c>failures</c> in a row, and it keeps
/// probing, so it returns to Running by itself when the target comes back. Every probe's outcome is published to
/// <see cref="CheckResults"/> (the emergency desktop's fallback policy listens there).
/// </summary>
public sealed class TcpBannerCheck(CheckConfig config, CheckResults results) : IComponent
{
    private const int MaxBannerBytes = 255; // RFC 4253 limits the SSH identification line to 255 bytes

    public async Task RunAsync(IComponentContext context, CancellationToken cancellationToken)
    {
        context.SetDetail("endpoint", config.Endpoint.ToString());
        var consecutiveFailures = 0;
        while (true)
        {
            var started = context.Time.GetTimestamp();
            var (ok, text) = await ProbeAsync(context.Time, cancellationToken).ConfigureAwait(false);
            var elapsed = context.Time.GetElapsedTime(started);
            consecutiveFailures = ok ? 0 : consecutiveFailures + 1;
            results.Publish(new CheckResult(config.Name, ok, text, context.Time.GetUtcNow(), consecutiveFailures));
            context.SetDetail("lastProbe", context.Time.GetUtcNow().ToString("O", CultureInfo.InvariantCulture));
            context.SetDetail("lastProbeMs", ((long)elapsed.TotalMilliseconds).ToString(CultureInfo.InvariantCulture));
            if (ok)
            {
                context.SetDetail("consecutiveFailures", "0");
                context.ReportRunning(text);
            }
            else
            {
                context.SetDetail("consecutiveFailures", consecutiveFailures.ToString(CultureInfo.InvariantCulture));
                context.SetDetail("lastError", text);
                if (consecutiveFailures >= config.Failures)
                {
                    // Stable wording while it stays down, so the state does not churn on every probe.
                    context.ReportFailed($"{text} ({config.Failures} probe{(config.Failures == 1 ? "" : "s")} in a row failed; still probing every {Durations.Format(config.Interval)})");
                }
                else
                {
                    context.ReportDegraded($"{consecutiveFailures}/{config.Failures} probes failed: {text}");
                }
            }
            await Task.Delay(config.Interval, context.Time, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task<(bool Ok, string Text)> ProbeAsync(TimeProvider time, CancellationToken cancellationToken)
    {
        using var timeout = new CancellationTokenSource(config.Timeout, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        try
        {
            await socket.ConnectAsync(config.Endpoint.Host, config.Endpoint.Port, linked.Token).ConfigureAwait(false);
            if (config.Expect is null)
            {
                return (true, "accepting connections");
            }
            var banner = await ReadLineAsync(socket, linked.Token).ConfigureAwait(false);
            if (banner is null)
            {
                return (false, "closed the connection without sending a banner");
            }
            return banner.StartsWith(config.Expect, StringComparison.Ordinal)
                ? (true, "answering: " + banner)
                : (false, $"unexpected banner '{banner}' (expected '{config.Expect}…')");
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            return (false, $"no answer within {Durations.Format(config.Timeout)}");
        }
        catch (SocketException e)
        {
            return (false, Describe(e));
        }
    }

    private static async Task<string?> ReadLineAsync(Socket socket, CancellationToken cancellationToken)
    {
        var buffer = new byte[MaxBannerBytes];
        var filled = 0;
        while (filled < buffer.Length)
        {
            var n = await socket.ReceiveAsync(buffer.AsMemory(filled), SocketFlags.None, cancellationToken).ConfigureAwait(false);
            if (n == 0)
            {
                return filled == 0 ? null : Printable(buffer.AsSpan(0, filled));
            }
            var newline = Array.IndexOf(buffer, (byte)'\n', filled, n);
            filled += n;
            if (newline >= 0)
            {
                return Printable(buffer.AsSpan(0, newline));
            }
        }
        return Printable(buffer);
    }

    /// <summary>A peer's bytes go into logs and status: keep them printable and short.</summary>
    private static string Printable(ReadOnlySpan<byte> bytes)
    {
        var text = Encoding.ASCII.GetString(bytes).TrimEnd('\r');
        var sb = new StringBuilder(Math.Min(text.Length, 80));
        foreach (var c in text)
        {
            if (sb.Length == 80)
            {
                sb.Append('…');
                break;
            }
            sb.Append(c is >= ' ' and <= '~' ? c : '?');
        }
        return sb.ToString();
    }

    private string Describe(SocketException e) => e.SocketErrorCode switch
    {
        SocketError.ConnectionRefused => $"connection refused by {config.Endpoint}",
        SocketError.ConnectionReset => "connection reset",
        SocketError.TimedOut => $"no answer within {Durations.Format(config.Timeout)}",
        SocketError.HostUnreachable => $"host {config.Endpoint.Host} unreachable",
        SocketError.NetworkUnreachable => "network unreachable",
        SocketError.HostNotFound or SocketError.TryAgain or SocketError.NoData => $"cannot resolve {config.Endpoint.Host}",
        _ => $"{e.SocketErrorCode}: {e.Message}",
    };
}
