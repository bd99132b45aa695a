using System.Diagnostics;
using Bastion.IntegrationTests.Infrastructure;
using Xunit.Abstractions;

namespace Bastion.IntegrationTests.Tor;

/// <summary>
/// A tor the test starts itself, with <c>DisableNetwork 1</c> (it can reach nothing), a control port picked by tor and
/// cookie authentication: the "existing tor" an admin may point <c>onion.tor.control</c> at. Killed on dispose.
/// </summary>
internal sealed class OfflineTorProcess : IAsyncDisposable
{
    private readonly ITestOutputHelper _output;
    private readonly ProcessOutput _log = new();
    private readonly Process _process;

    private OfflineTorProcess(ITestOutputHelper output, Process process)
    {
        _output = output;
        _process = process;
    }

    public string ControlPort { get; private set; } = "";

    /// <summary>Tor's default CookieAuthFile: DataDirectory/control_auth_cookie.</summary>
    public string CookieFile { get; private set; } = "";
    public bool IsRunning => !_process.HasExited;

    public static async Task<OfflineTorProcess> StartAsync(string dir, ITestOutputHelper output)
    {
        Directory.CreateDirectory(dir);
        File.SetUnixFileMode(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var torrc = Path.Combine(dir, "torrc");
        var defaults = Path.Combine(dir, "torrc.defaults");
        var portFile = Path.Combine(dir, "control-port");
        await File.WriteAllTextAsync(defaults, "");
        await File.WriteAllTextAsync(torrc, $"""
            DisableNetwork 1
            DataDirectory {dir}
            SocksPort 0
            ControlPort auto
            ControlPortWriteToFile {portFile}
            CookieAuthentication 1
            Log notice stdout
            """);
        var psi = new ProcessStartInfo("tor") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "--defaults-torrc", defaults, "-f", torrc })
        {
            psi.ArgumentList.Add(a);
        }
        var process = Process.Start(psi) ?? throw new InvalidOperationException("cannot start tor");
        var tor = new OfflineTorProcess(output, process);
        tor._log.Attach(process, "[tor] ");
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!File.Exists(portFile) || !(await File.ReadAllTextAsync(portFile)).StartsWith("PORT=", StringComparison.Ordinal))
        {
            if (process.HasExited || DateTime.UtcNow > deadline)
            {
                await tor.DisposeAsync();
                throw new InvalidOperationException("tor did not open its control port:\n" + tor._log);
            }
            await Task.Delay(50);
        }
        tor.ControlPort = (await File.ReadAllTextAsync(portFile)).Trim()[5..];
        tor.CookieFile = Path.Combine(dir, "control_auth_cookie");
        return tor;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
        }
        foreach (var line in _log.Lines)
        {
            _output.WriteLine(line);
        }
        _process.Dispose();
    }
}
