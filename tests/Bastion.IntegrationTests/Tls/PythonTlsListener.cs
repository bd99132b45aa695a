using System.Diagnostics;
using Bastion.IntegrationTests.Infrastructure;
using Bastion.Pki;
using Xunit.Abstractions;

namespace Bastion.IntegrationTests.Tls;

/// <summary>
/// An admin's listener for a phone-home endpoint that is not ours: python's ssl module as the TLS client with a client
/// certificate. It completes the handshake of every connection it accepts, prints <c>session N</c>, and holds the session
/// without ever reading (what a frozen viewer looks like from the server). With <c>closeAfterFirst</c> it closes its
/// listening socket after the first connection, so that another listener can take the port while it holds the session.
/// Killed (by its PID) on dispose; SIGSTOP/SIGCONT through <see cref="Pid"/>.
/// </summary>
internal sealed class PythonTlsListener : IAsyncDisposable
{
    private const string Script = """
        import socket, ssl, sys, time
        port, cert, key, ca, first_only = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5] == "1"
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.load_cert_chain(cert, key)
        ctx.load_verify_locations(ca)
        ls = socket.socket()
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind(("127.0.0.1", port))
        ls.listen(16)
        print("listening on", ls.getsockname()[1], flush=True)
        held, n = [], 0
        while True:
            c, a = ls.accept()
            if first_only:
                ls.close()
            try:
                t = ctx.wrap_socket(c)
            except Exception as e:
                print("refused", a, e, flush=True)
                c.close()
            else:
                n += 1
                held.append(t)
                print("session", n, "from", a[1], flush=True)
            if first_only:
                break
        while True:
            time.sleep(3600)
        """;

    private readonly ITestOutputHelper _output;
    private readonly Process _process;

    private PythonTlsListener(ITestOutputHelper output, Process process, int port)
    {
        _output = output;
        _process = process;
        Port = port;
    }

    public ProcessOutput Log { get; } = new();
    public int Port { get; }
    public int Pid => _process.Id;

    public int Sessions => Log.Lines.Count(l => l.StartsWith("session ", StringComparison.Ordinal));

    /// <param name="wrapper">A command that execs python3 (e.g. <c>ip netns exec NAME</c>); null for none.</param>
    public static async Task<PythonTlsListener> StartAsync(ITestOutputHelper output, int port, IssueResult client, string caPath, bool closeAfterFirst = false, IReadOnlyList<string>? wrapper = null)
    {
        var psi = new ProcessStartInfo(wrapper is { Count: > 0 } ? wrapper[0] : "python3") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in wrapper is { Count: > 0 } ? [.. wrapper.Skip(1), "python3"] : Array.Empty<string>())
        {
            psi.ArgumentList.Add(a);
        }
        foreach (var a in new[] { "-c", Script, port.ToString(System.Globalization.CultureInfo.InvariantCulture), client.CertificatePath, client.KeyPath, caPath, closeAfterFirst ? "1" : "0" })
        {
            psi.ArgumentList.Add(a);
        }
        var process = Process.Start(psi) ?? throw new InvalidOperationException("cannot start python3 (install-deps.sh installs it)");
        var listener = new PythonTlsListener(output, process, port);
        listener.Log.Attach(process);
        try
        {
            await listener.Log.WaitForLineAsync(l => l.StartsWith("listening on", StringComparison.Ordinal), TimeSpan.FromSeconds(20), "python listener ready");
        }
        catch
        {
            await listener.DisposeAsync();
            throw;
        }
        return listener;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            Posix.Signal(_process.Id, Posix.SIGCONT); // a stopped process dies of SIGKILL too, but say so plainly
            _process.Kill();
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
        }
        _output.WriteLine($"---- python TLS listener on {Port} ----");
        foreach (var line in Log.Lines)
        {
            _output.WriteLine(line);
        }
        _process.Dispose();
    }
}
