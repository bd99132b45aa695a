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
            var typed = 0;
            var echoesSeen = 0;
            while (true)
            {
                var n = await process.StandardOutput.ReadAsync(buffer.AsMemory(), cts.Token);
                if (n == 0)
                {
                    break;
                }
                output.Append(buffer, 0, n);
                var text = output.ToString();
                var prompt = text.IndexOf("Password:", StringComparison.Ordinal);
                if (prompt < 0)
                {
                    continue;
                }
                // Typed after the prompt but before the viewer turned echo off, the password is echoed, and the
                // viewer's switch to no-echo (TCSAFLUSH) throws that input away: it would wait forever. Each echo
                // seen means one typing was lost: type it again, a moment later (at most three times).
                var echoes = CountOf(text[prompt..], password);
                if (typed == 0 || (echoes > echoesSeen && typed < 3))
                {
                    echoesSeen = echoes;
                    if (typed > 0)
                    {
                        await Task.Delay(TimeSpan.FromMilliseconds(200), cts.Token);
                    }
                    typed++;
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

    private static int CountOf(string text, string part)
    {
        var count = 0;
        for (var at = text.IndexOf(part, StringComparison.Ordinal); at >= 0; at = text.IndexOf(part, at + part.Length, StringComparison.Ordinal))
        {
            count++;
        }
        return count;
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
