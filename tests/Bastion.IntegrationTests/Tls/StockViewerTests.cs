using System.Buffers.Binary;
using System.Net.Sockets;
using System.Text;
using Bastion.IntegrationTests.Vnc;
using Xunit.Abstractions;

namespace Bastion.IntegrationTests.Tls;

/// <summary>A stock VNC viewer (it waits for the server to speak) pointed at the desktop's endpoint is told what to run.</summary>
public sealed class StockViewerTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task A_client_that_sends_nothing_gets_an_RFB_security_failure_naming_bastionctl_connect_and_the_admin_still_gets_in()
    {
        await using var vnc = await VncTestDaemon.StartAsync(output, "always");
        var port = await vnc.WaitRaisedAsync();

        using (var viewer = new Socket(SocketType.Stream, ProtocolType.Tcp))
        {
            await viewer.ConnectAsync("127.0.0.1", port).WaitAsync(Patience);
            Assert.Equal("RFB 003.008\n", Encoding.ASCII.GetString(await ReceiveAsync(viewer, 12))); // after ~1.5 s of silence
            await viewer.SendAsync("RFB 003.008\n"u8.ToArray()).WaitAsync(Patience);
            Assert.Equal(0, (await ReceiveAsync(viewer, 1))[0]); // no security types: a failure with a reason
            var length = BinaryPrimitives.ReadUInt32BigEndian(await ReceiveAsync(viewer, 4));
            var reason = Encoding.UTF8.GetString(await ReceiveAsync(viewer, (int)length));
            output.WriteLine(reason);
            Assert.Contains($"bastionctl connect 127.0.0.1:{port} --local 127.0.0.1:5901", reason, StringComparison.Ordinal);
            Assert.Contains("stunnel", reason, StringComparison.Ordinal);
        }
        await vnc.Daemon.Log.WaitForLineAsync(l => l.Contains("a stock VNC viewer?", StringComparison.Ordinal), Patience, "the refusal");

        await using var admin = await vnc.ConnectAsync(port);
        Assert.Equal(320, (await admin.HandshakeAsync(VncTestDaemon.Password)).Width);
    }

    private static async Task<byte[]> ReceiveAsync(Socket socket, int count)
    {
        var buffer = new byte[count];
        var read = 0;
        while (read < count)
        {
            var n = await socket.ReceiveAsync(buffer.AsMemory(read)).AsTask().WaitAsync(Patience);
            Assert.True(n > 0, $"closed after {read} of {count} bytes");
            read += n;
        }
        return buffer;
    }
}
