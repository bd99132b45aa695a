using System.Buffers.Binary;
using System.Diagnostics;
using System.Net.Security;
using System.Net.Sockets;
using System.Text;
using Bastion.IntegrationTests.Infrastructure;
using Bastion.Pki;
using Bastion.Tls;
using Bastion.Vnc;

namespace Bastion.IntegrationTests.VncCli;

/// <summary>
/// A viewer that stays connected: mutual TLS with the admin's certificate to the endpoint, the RFB handshake to ServerInit
/// (Core's <see cref="RfbProbe"/>, shared flag 1), then framebuffer update requests on demand, to show the connection is
/// still served. Disposing it closes the connection (the client "leaves").
/// </summary>
internal sealed class RfbViewer : IAsyncDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);
    private readonly SslStream _tls;

    private RfbViewer(SslStream tls, RfbServerInit init)
    {
        _tls = tls;
        ServerInit = init;
    }

    public RfbServerInit ServerInit { get; }

    public static async Task<RfbViewer> ConnectAsync(VncDesktop desktop, string password)
    {
        using var cts = new CancellationTokenSource(Patience);
        var credentials = new EndpointCredentials(desktop.Pki.Admin.CertificatePath, desktop.Pki.Admin.KeyPath, desktop.Pki.CaPath, advertiseCa: false).Current();
        var validator = new PeerValidator(CertificateRole.Server, [], null, TimeProvider.System);
        var tcp = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await tcp.ConnectAsync("127.0.0.1", desktop.Port, cts.Token);
        var tls = new SslStream(new NetworkStream(tcp, ownsSocket: true));
        try
        {
            await tls.AuthenticateAsClientAsync(TlsPolicy.Client(credentials.Context, "127.0.0.1",
                (_, certificate, _, _) => validator.Validate(certificate, credentials.Ca).Accepted), cts.Token);
            var init = await RfbProbe.HandshakeAsync(tls, password, cts.Token);
            return new RfbViewer(tls, init);
        }
        catch
        {
            await tls.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// Sends FramebufferUpdateRequest (non-incremental, the whole desktop) and reads the reply's header: message type 0
    /// (FramebufferUpdate) and at least one rectangle. Throws when the connection was closed.
    /// </summary>
    public async Task<int> RequestUpdateAsync()
    {
        using var cts = new CancellationTokenSource(Patience);
        var request = new byte[10];
        request[0] = 3; // FramebufferUpdateRequest
        request[1] = 0; // incremental: no
        BinaryPrimitives.WriteUInt16BigEndian(request.AsSpan(6), (ushort)ServerInit.Width);
        BinaryPrimitives.WriteUInt16BigEndian(request.AsSpan(8), (ushort)ServerInit.Height);
        await _tls.WriteAsync(request, cts.Token);
        await _tls.FlushAsync(cts.Token);
        var header = new byte[4];
        await _tls.ReadExactlyAsync(header, cts.Token);
        if (header[0] != 0)
        {
            throw new InvalidDataException($"expected FramebufferUpdate (0), got message type {header[0]}");
        }
        return BinaryPrimitives.ReadUInt16BigEndian(header.AsSpan(2));
    }

    /// <summary>True once the server has closed the connection (a read returns EOF or fails).</summary>
    public async Task<bool> IsClosedAsync()
    {
        using var cts = new CancellationTokenSource(Patience);
        var buffer = new byte[64 * 1024];
        try
        {
            // Drain whatever is pending (an update in flight) until EOF.
            while (await _tls.ReadAsync(buffer, cts.Token) > 0)
            {
            }
            return true;
        }
        catch (IOException)
        {
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    public ValueTask DisposeAsync() => _tls.DisposeAsync();
}

/// <summary>
/// gvnccapture (Debian's gvncviewer package, gtk-vnc): a real VNC client that saves the desktop as a PNG. It takes the
/// display as HOST:N (port 5900+N) and reads the password from a terminal only, so it runs under <c>script</c> (a pty) and
/// the password is typed when its "Password:" prompt appears.
/// </summary>
internal static class GvncCapture
{
    public static async Task<CommandResult> CaptureAsync(int port, string password, string pngPath, TimeSpan timeout)
    {
        var display = port - 5900;
        if (display < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(port), port, "gvnccapture reaches ports from 5900 up only");
        }
        var commandLine = $"gvnccapture 127.0.0.1:{display} {pngPath}";
        var psi = new ProcessStartInfo("script")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in new[] { "-qec", commandLine, "/dev/null" })
        {
            psi.ArgumentList.Add(a);
        }
        using var process = Process.Start(psi) ?? throw new InvalidOperationException("cannot start script");
        var output = new StringBuilder();
        var stderrTask = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout);
        var timedOut = false;
        try
        {
            var buffer = new char[1024];
            var typed = false;
            while (true)
            {
                var n = await process.StandardOutput.ReadAsync(buffer.AsMemory(), cts.Token);
                if (n == 0)
                {
                    break;
                }
                output.Append(buffer, 0, n);
                if (!typed && output.ToString().Contains("Password:", StringComparison.Ordinal))
                {
                    typed = true;
                    await process.StandardInput.WriteAsync((password + "\n").AsMemory(), cts.Token);
                    await process.StandardInput.FlushAsync(cts.Token);
                }
            }
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            timedOut = true;
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
        var stderr = await stderrTask;
        return new CommandResult("script -qec '" + commandLine + "' /dev/null", timedOut ? -1 : process.ExitCode, timedOut,
            output.ToString(), stderr, output + stderr);
    }
}

/// <summary>The PNG signature and the IHDR size (the first chunk: width, height as big-endian u32 at bytes 16–23).</summary>
internal static class Png
{
    private static readonly byte[] Signature = [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0d, 0x0a, 0x1a, 0x0a];

    public static (int Width, int Height) Size(string path)
    {
        var bytes = File.ReadAllBytes(path);
        if (bytes.Length < 33 || !bytes.AsSpan(0, 8).SequenceEqual(Signature) || Encoding.ASCII.GetString(bytes, 12, 4) != "IHDR")
        {
            throw new InvalidDataException($"{path} is not a PNG ({bytes.Length} bytes: {Convert.ToHexString(bytes.AsSpan(0, Math.Min(16, bytes.Length)))}…)");
        }
        return ((int)BinaryPrimitives.ReadUInt32BigEndian(bytes.AsSpan(16)), (int)BinaryPrimitives.ReadUInt32BigEndian(bytes.AsSpan(20)));
    }
}
