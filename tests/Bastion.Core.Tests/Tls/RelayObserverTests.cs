using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Bastion.Tests.Vnc;
using Bastion.Tls;
using Bastion.Vnc;
using Microsoft.Extensions.Time.Testing;

namespace Bastion.Tests.Tls;

/// <summary>
/// The relay's observer hook, in process: a real TLS connection on loopback (self-signed server certificate; client
/// certificates are the daemon's business and tested there) relayed to a plain socket.
/// </summary>
public sealed class RelayObserverTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(20);

    /// <summary>Records what it is shown; stops watching after <paramref name="watchBytes"/> bytes in total.</summary>
    private sealed class RecordingObserver(int watchBytes = int.MaxValue) : IRelayObserver
    {
        private readonly Lock _lock = new();
        private readonly List<byte> _fromTls = [];
        private readonly List<byte> _fromPlain = [];
        private int _seen;

        public int CallsAfterStop { get; private set; }

        public bool Watching
        {
            get
            {
                lock (_lock)
                {
                    return _seen < watchBytes;
                }
            }
        }

        public byte[] FromTlsBytes { get { lock (_lock) { return _fromTls.ToArray(); } } }
        public byte[] FromPlainBytes { get { lock (_lock) { return _fromPlain.ToArray(); } } }

        public void FromTls(ReadOnlySpan<byte> data) => Record(_fromTls, data);
        public void FromPlain(ReadOnlySpan<byte> data) => Record(_fromPlain, data);

        private void Record(List<byte> into, ReadOnlySpan<byte> data)
        {
            lock (_lock)
            {
                if (_seen >= watchBytes)
                {
                    CallsAfterStop++;
                }
                into.AddRange(data);
                _seen += data.Length;
            }
        }
    }

    /// <summary>A client's TLS stream relayed (by <see cref="Relay"/>) to <paramref name="backend"/>, which the test drives.</summary>
    private sealed class RelayedConnection : IAsyncDisposable
    {
        private readonly Socket _tlsServerSocket;
        private readonly SslStream _tlsServer;
        private readonly Socket _clientSocket;
        private readonly CancellationTokenSource _stop;

        private RelayedConnection(SslStream client, Socket clientSocket, SslStream tlsServer, Socket tlsServerSocket, Task<RelayResult> relay, CancellationTokenSource stop)
        {
            _stop = stop;
            Client = client;
            _clientSocket = clientSocket;
            _tlsServer = tlsServer;
            _tlsServerSocket = tlsServerSocket;
            Run = relay;
        }

        public SslStream Client { get; }
        public Task<RelayResult> Run { get; }

        public static async Task<RelayedConnection> StartAsync(Socket plain, IRelayObserver observer, RelayIdleLimit? idle = null)
        {
            using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var request = new CertificateRequest("CN=relay-test", key, HashAlgorithmName.SHA256);
            using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddHours(1));

            using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            listener.Listen(1);
            var clientSocket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await clientSocket.ConnectAsync(listener.LocalEndPoint!).WaitAsync(Limit);
            var serverSocket = await listener.AcceptAsync().WaitAsync(Limit);

            var server = new SslStream(new NetworkStream(serverSocket, ownsSocket: false));
            var thumbprint = certificate.Thumbprint;
            var client = new SslStream(new NetworkStream(clientSocket, ownsSocket: false), false,
                (_, presented, _, _) => presented is not null && presented.GetCertHashString() == thumbprint); // pinned: the test's own certificate
            await Task.WhenAll(
                server.AuthenticateAsServerAsync(new SslServerAuthenticationOptions { ServerCertificate = certificate }),
                client.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = "relay-test" })).WaitAsync(Limit);

            var stop = new CancellationTokenSource();
            return new RelayedConnection(client, clientSocket, server, serverSocket, Relay.RunAsync(server, serverSocket, plain, stop.Token, observer, idle), stop);
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            try
            {
                await Run.WaitAsync(Limit);
            }
            finally
            {
                await Client.DisposeAsync();
                _clientSocket.Dispose();
                await _tlsServer.DisposeAsync();
                _tlsServerSocket.Dispose();
                _stop.Dispose();
            }
        }
    }

    private static async Task<(Socket Plain, Socket Backend)> PlainPairAsync()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        var plain = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await plain.ConnectAsync(listener.LocalEndPoint!).WaitAsync(Limit);
        return (plain, await listener.AcceptAsync().WaitAsync(Limit));
    }

    private static async Task<byte[]> ReadExactlyAsync(Stream stream, int count)
    {
        var buffer = new byte[count];
        await stream.ReadExactlyAsync(buffer).AsTask().WaitAsync(Limit);
        return buffer;
    }

    [Fact]
    public async Task An_observer_sees_the_bytes_each_way_and_the_relayed_bytes_are_unchanged()
    {
        var (plain, backendSocket) = await PlainPairAsync();
        using var _ = plain;
        await using var backend = new NetworkStream(backendSocket, ownsSocket: true);
        var observer = new RecordingObserver();
        await using var relayed = await RelayedConnection.StartAsync(plain, observer);

        var up = RandomNumberGenerator.GetBytes(300_000); // more than one TLS record and more than one relay buffer's read
        var down = RandomNumberGenerator.GetBytes(200_000);
        var write = relayed.Client.WriteAsync(up).AsTask();
        Assert.Equal(up, await ReadExactlyAsync(backend, up.Length));
        await write.WaitAsync(Limit);
        await backend.WriteAsync(down).AsTask().WaitAsync(Limit);
        Assert.Equal(down, await ReadExactlyAsync(relayed.Client, down.Length));

        Assert.Equal(up, observer.FromTlsBytes);
        Assert.Equal(down, observer.FromPlainBytes);
    }

    [Fact]
    public async Task Once_the_observer_stops_watching_it_is_not_called_and_the_bytes_still_pass()
    {
        var (plain, backendSocket) = await PlainPairAsync();
        using var _ = plain;
        await using var backend = new NetworkStream(backendSocket, ownsSocket: true);
        var observer = new RecordingObserver(watchBytes: 10);
        await using var relayed = await RelayedConnection.StartAsync(plain, observer);

        await relayed.Client.WriteAsync("0123456789"u8.ToArray()).AsTask().WaitAsync(Limit);
        Assert.Equal("0123456789"u8.ToArray(), await ReadExactlyAsync(backend, 10));
        Assert.False(observer.Watching);

        for (var i = 0; i < 5; i++)
        {
            await relayed.Client.WriteAsync("more"u8.ToArray()).AsTask().WaitAsync(Limit);
            Assert.Equal("more"u8.ToArray(), await ReadExactlyAsync(backend, 4));
            await backend.WriteAsync("back"u8.ToArray()).AsTask().WaitAsync(Limit);
            Assert.Equal("back"u8.ToArray(), await ReadExactlyAsync(relayed.Client, 4));
        }
        Assert.Equal(0, observer.CallsAfterStop);
        Assert.Equal("0123456789"u8.ToArray(), observer.FromTlsBytes);
        Assert.Empty(observer.FromPlainBytes);
    }

    [Theory]
    [InlineData("Pw7secrt", RfbAuthOutcome.Succeeded, null)]
    [InlineData("wrong", RfbAuthOutcome.Failed, "password rejected: Authentication failure")]
    public async Task An_RFB_auth_observer_on_the_relay_learns_whether_the_viewer_knew_the_password(string password, RfbAuthOutcome outcome, string? reason)
    {
        await using var server = new ScriptedRfbServer(async peer =>
        {
            await peer.SendAsync(Rfb.Version("003.008"));
            await peer.ReceiveAsync(12);
            await peer.SendAsync([1, 2]);
            await peer.ReceiveAsync(1);
            await peer.SendAsync(Rfb.Challenge);
            var ok = (await peer.ReceiveAsync(16)).AsSpan().SequenceEqual(VncAuth.Response(Rfb.Challenge, "Pw7secrt"));
            if (!ok)
            {
                await peer.SendAsync(Rfb.U32(1), Rfb.String("Authentication failure"));
                await peer.DrainAsync();
                return;
            }
            await peer.SendAsync(Rfb.U32(0));
            await peer.ReceiveAsync(1);
            await peer.SendAsync(Rfb.ServerInit(1280, 800, "desk"));
            await peer.DrainAsync();
        });
        using var plain = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await plain.ConnectAsync(new UnixDomainSocketEndPoint(server.SocketPath)).WaitAsync(Limit);
        var observer = new RfbAuthObserver();
        await using var relayed = await RelayedConnection.StartAsync(plain, observer);

        var result = await RfbProbe.ProbeAsync(relayed.Client, password, CancellationToken.None).WaitAsync(Limit);

        Assert.Equal(outcome == RfbAuthOutcome.Succeeded ? RfbHealth.Up : RfbHealth.AuthBroken, result.Health);
        Assert.Equal(outcome, observer.Outcome);
        Assert.Equal(reason, observer.FailureReason);
    }

    [Fact]
    public async Task With_an_idle_limit_the_relay_ends_after_that_long_without_a_byte_and_traffic_keeps_it_open()
    {
        var time = new FakeTimeProvider();
        var (plain, backend) = await PlainPairAsync();
        using var _ = backend;
        await using var relayed = await RelayedConnection.StartAsync(plain, new RecordingObserver(0), new RelayIdleLimit(TimeSpan.FromSeconds(4), time));

        for (var round = 0; round < 3; round++)
        {
            await AdvanceAsync(time, TimeSpan.FromSeconds(3)); // 3 s of silence, under the limit
            Assert.False(relayed.Run.IsCompleted, $"ended after round {round}");
            await relayed.Client.WriteAsync("x"u8.ToArray()).AsTask().WaitAsync(Limit);
            var one = new byte[1];
            Assert.Equal(1, await backend.ReceiveAsync(one, SocketFlags.None).WaitAsync(Limit)); // the relay saw the byte
        }

        for (var second = 0; second < 60 && !relayed.Run.IsCompleted; second++)
        {
            await AdvanceAsync(time, TimeSpan.FromSeconds(1));
        }
        var result = await relayed.Run.WaitAsync(Limit);
        Assert.Equal("idle: no byte either way for 4s", result.Error);
        Assert.Equal(3, result.FromTls);
    }

    [Fact]
    public async Task An_idle_limit_lowered_by_a_reload_ends_an_open_relay_at_the_new_limit_within_five_seconds()
    {
        var time = new FakeTimeProvider();
        var (plain, backend) = await PlainPairAsync();
        using var _ = backend;
        var limitTicks = TimeSpan.FromHours(1).Ticks;
        await using var relayed = await RelayedConnection.StartAsync(plain, new RecordingObserver(0),
            new RelayIdleLimit(() => TimeSpan.FromTicks(Interlocked.Read(ref limitTicks)), time));

        await AdvanceAsync(time, TimeSpan.FromSeconds(20)); // 20 s of silence: nothing under an hour's limit
        Assert.False(relayed.Run.IsCompleted);

        Interlocked.Exchange(ref limitTicks, TimeSpan.FromSeconds(10).Ticks); // the reload: already 20 s silent, so it ends at the next check (≤ 5 s)
        for (var second = 0; second < 6 && !relayed.Run.IsCompleted; second++)
        {
            await AdvanceAsync(time, TimeSpan.FromSeconds(1));
        }
        var result = await relayed.Run.WaitAsync(Limit);
        Assert.Equal("idle: no byte either way for 10s", result.Error);
    }

    /// <summary>In 250 ms steps, letting the relay's idle watch run between them (its timer is re-armed after each wake).</summary>
    private static async Task AdvanceAsync(FakeTimeProvider time, TimeSpan by)
    {
        for (var t = TimeSpan.Zero; t < by; t += TimeSpan.FromMilliseconds(250))
        {
            time.Advance(TimeSpan.FromMilliseconds(250));
            await Task.Delay(20);
        }
    }
}
