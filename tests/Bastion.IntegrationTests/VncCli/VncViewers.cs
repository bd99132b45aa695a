using System.Buffers.Binary;
using System.Diagnostics;
using System.Text;
using Bastion.IntegrationTests.Infrastructure;

namespace Bastion.IntegrationTests.VncCli;

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
