using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;
using Bastion.IntegrationTests.Infrastructure;
using Bastion.Pki;
using Xunit.Abstractions;

namespace Bastion.IntegrationTests.Tls;

/// <summary>
/// A running <c>bastionctl connect</c> (the admin's stunnel-like end): started with a client certificate, waited for until it
/// prints its local plain port, output dumped to the test log and the process killed on dispose.
/// </summary>
internal sealed partial class ConnectProcess : IAsyncDisposable
{
    private readonly ITestOutputHelper _output;
    private readonly Process _process;

    private ConnectProcess(ITestOutputHelper output, Process process)
    {
        _output = output;
        _process = process;
    }

    public ProcessOutput Log { get; } = new();
    public int LocalPort { get; private set; }
    public int ListenPort { get; private set; }
    public bool HasExited => _process.HasExited;

    /// <summary>For SIGSTOP/SIGCONT (a frozen admin laptop): only this process, by its id.</summary>
    public int Pid => _process.Id;

    /// <summary>Forward: connects to the daemon's endpoint at <paramref name="server"/>.</summary>
    public static Task<ConnectProcess> ForwardAsync(ITestOutputHelper output, string server, IssueResult client, string caPath, params string[] extra) =>
        StartAsync(output, [server, .. Args(client, caPath), .. extra]);

    /// <summary>Reverse: waits on <paramref name="listen"/> for a daemon that phones home.</summary>
    public static Task<ConnectProcess> ListenAsync(ITestOutputHelper output, string listen, IssueResult client, string caPath, params string[] extra) =>
        StartAsync(output, ["--listen", listen, .. Args(client, caPath), .. extra]);

    private static string[] Args(IssueResult client, string caPath) =>
        ["--cert", client.CertificatePath, "--key", client.KeyPath, "--ca", caPath];

    private static async Task<ConnectProcess> StartAsync(ITestOutputHelper output, string[] args)
    {
        var psi = new ProcessStartInfo(Binaries.Bastionctl)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add("connect");
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        var process = Process.Start(psi) ?? throw new InvalidOperationException("cannot start bastionctl connect");
        var connect = new ConnectProcess(output, process);
        connect.Log.Attach(process);
        var line = await connect.Log.WaitForLineAsync(l => l.StartsWith("listening on", StringComparison.Ordinal) || l.StartsWith("waiting for the server", StringComparison.Ordinal),
            TimeSpan.FromSeconds(20), "bastionctl connect ready");
        var ports = PortPattern().Matches(line).Select(m => int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture)).ToList();
        if (line.StartsWith("listening on", StringComparison.Ordinal))
        {
            connect.LocalPort = ports[0];
        }
        else
        {
            connect.ListenPort = ports[0];
            connect.LocalPort = ports[1];
        }
        return connect;
    }

    /// <summary>Sends <paramref name="text"/> through the local plain port and returns what comes back (the echo backend's answer).</summary>
    public async Task<string> RoundTripAsync(string text, TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(20));
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync("127.0.0.1", LocalPort, cts.Token);
        try
        {
            return await EchoRoundTrip.RunAsync(socket, text, cts.Token);
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionReset)
        {
            return ""; // connect refused the peer and dropped our local connection
        }
    }

    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        await _process.WaitForExitAsync().WaitAsync(timeout);
        _process.WaitForExit();
        return _process.ExitCode;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
        }
        _output.WriteLine("---- bastionctl connect ----");
        foreach (var line in Log.Lines)
        {
            _output.WriteLine(line);
        }
        _process.Dispose();
    }

    [GeneratedRegex(@"127\.0\.0\.1:(\d+)")]
    private static partial Regex PortPattern();
}

internal static class EchoRoundTrip
{
    /// <summary>Writes the text, half-closes, and reads until EOF: proves both directions and the half-close went through.</summary>
    public static async Task<string> RunAsync(Socket socket, string text, CancellationToken cancellationToken)
    {
        await socket.SendAsync(Encoding.UTF8.GetBytes(text), SocketFlags.None, cancellationToken);
        socket.Shutdown(SocketShutdown.Send);
        var received = new MemoryStream();
        var buffer = new byte[4096];
        int n;
        while ((n = await socket.ReceiveAsync(buffer, SocketFlags.None, cancellationToken)) > 0)
        {
            received.Write(buffer, 0, n);
        }
        return Encoding.UTF8.GetString(received.ToArray());
    }
}
