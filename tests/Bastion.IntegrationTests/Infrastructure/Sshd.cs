using System.Diagnostics;
using Xunit.Abstractions;

namespace Bastion.IntegrationTests.Infrastructure;

/// <summary>
/// A real, private OpenSSH sshd on 127.0.0.1, touching nothing of the system's: its own host key, config and
/// pid file under a temp dir, and — because sshd insists on /run/sshd for privilege separation — a private
/// mount namespace (<c>unshare -m</c>) with a private directory bind-mounted over /run.
/// Logs go to the test output on dispose. Can be killed, frozen and started again on the same port.
/// </summary>
internal sealed class Sshd : IAsyncDisposable
{
    private const string SshdPath = "/usr/sbin/sshd";
    private static readonly TimeSpan ReadyTimeout = TimeSpan.FromSeconds(20);
    private readonly string _dir;
    private readonly string _config;
    private readonly string _run;
    private readonly ITestOutputHelper? _output;
    private readonly List<ProcessOutput> _logs = [];
    private Process? _process;

    private readonly string _extraConfig;

    private Sshd(string dir, int port, ITestOutputHelper? output, string extraConfig = "")
    {
        _extraConfig = extraConfig;
        _dir = dir;
        Port = port;
        _output = output;
        _run = Path.Combine(dir, "run");
        _config = Path.Combine(dir, "sshd_config");
    }

    public int Port { get; }
    public string HostKeyPublic => Path.Combine(_dir, "host_ed25519.pub");
    public int Pid => _process?.Id ?? throw new InvalidOperationException("sshd is not running");

    /// <summary>The private directory holding sshd's keys, config and authorized_keys.</summary>
    public string Dir => _dir;

    /// <summary>The login the tunnels use: the test runs as root, and sshd allows root with a key by default.</summary>
    public static string User => Environment.UserName;

    /// <summary>The host key's fingerprint as <c>ssh-keygen -lf</c> prints it.</summary>
    public string HostKeyFingerprint =>
        Bastion.Ssh.SshFingerprint.Of(Convert.FromBase64String(File.ReadAllText(HostKeyPublic).Split(' ')[1]));

    /// <summary>Every line sshd logged so far (all runs).</summary>
    public IReadOnlyList<string> LogLines => [.. _logs.SelectMany(l => l.Lines)];

    /// <summary>
    /// A new ed25519 user key (no passphrase, 0600) in sshd's dir; added to authorized_keys unless told not to.
    /// Returns the private key's path.
    /// </summary>
    public async Task<string> CreateUserKeyAsync(bool authorize = true)
    {
        var path = Path.Combine(_dir, "id_" + Guid.NewGuid().ToString("N")[..8]);
        await Run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "bastion-test", "-f", path);
        if (authorize)
        {
            await File.AppendAllTextAsync(Path.Combine(_dir, "authorized_keys"), await File.ReadAllTextAsync(path + ".pub"));
        }
        return path;
    }

    /// <summary>The pids of sshd's per-connection children (one per SSH session), to kill a session without killing sshd.</summary>
    public IReadOnlyList<int> SessionPids() => ChildrenOf(Pid);

    /// <summary>Every descendant of sshd: the session processes and their privilege-separated children.</summary>
    public IReadOnlyList<int> DescendantPids()
    {
        var result = new List<int>();
        var queue = new Queue<int>(ChildrenOf(Pid));
        while (queue.TryDequeue(out var pid))
        {
            result.Add(pid);
            foreach (var child in ChildrenOf(pid))
            {
                queue.Enqueue(child);
            }
        }
        return result;
    }

    private static List<int> ChildrenOf(int pid)
    {
        var result = new List<int>();
        try
        {
            foreach (var task in Directory.EnumerateDirectories($"/proc/{pid}/task"))
            {
                var children = File.ReadAllText(Path.Combine(task, "children"));
                result.AddRange(children.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse));
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // exited meanwhile
        }
        return result;
    }

    private readonly List<int> _frozenSessions = [];

    /// <summary>Freezes sshd and every session process (a hung server: connections stay up, nothing answers).</summary>
    public void FreezeAll()
    {
        Freeze();
        foreach (var pid in DescendantPids())
        {
            Posix.Signal(pid, Posix.SIGSTOP);
            _frozenSessions.Add(pid);
        }
    }

    public void ThawAll()
    {
        foreach (var pid in _frozenSessions)
        {
            Posix.Signal(pid, Posix.SIGCONT);
        }
        _frozenSessions.Clear();
        Thaw();
    }

    public static Task<Sshd> StartAsync(string parentDir, ITestOutputHelper? output = null) => StartAsync(parentDir, output, "");

    /// <param name="extraConfig">sshd_config lines appended to the defaults (e.g. ClientAliveInterval 1).</param>
    public static async Task<Sshd> StartAsync(string parentDir, ITestOutputHelper? output, string extraConfig)
    {
        if (!File.Exists(SshdPath))
        {
            throw new FileNotFoundException($"{SshdPath} is missing: scripts/install-deps.sh installs openssh-server", SshdPath);
        }
        var dir = Directory.CreateDirectory(Path.Combine(parentDir, "sshd-" + Guid.NewGuid().ToString("N")[..8])).FullName;
        await Run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", Path.Combine(dir, "host_ed25519"));
        for (var attempt = 0; ; attempt++)
        {
            var sshd = new Sshd(dir, FreePort.Pick(), output, extraConfig);
            sshd.WriteConfig();
            try
            {
                await sshd.RestartAsync();
                return sshd;
            }
            catch (InvalidOperationException) when (attempt < 3)
            {
                await sshd.KillAsync(); // the port was taken between picking and binding: pick another (same dir, same key)
            }
        }
    }

    private void WriteConfig()
    {
        Directory.CreateDirectory(Path.Combine(_run, "sshd"));
        File.SetUnixFileMode(Path.Combine(_run, "sshd"), (UnixFileMode)0b111_101_101);
        File.WriteAllText(Path.Combine(_dir, "authorized_keys"), "");
        File.WriteAllText(_config, $"""
            Port {Port}
            ListenAddress 127.0.0.1
            HostKey {Path.Combine(_dir, "host_ed25519")}
            PidFile {Path.Combine(_dir, "sshd.pid")}
            AuthorizedKeysFile {Path.Combine(_dir, "authorized_keys")}
            StrictModes no
            UsePAM no
            PasswordAuthentication no
            KbdInteractiveAuthentication no
            LogLevel VERBOSE
            {_extraConfig}
            """);
    }

    /// <summary>Starts sshd (again) on the same port and waits until it listens.</summary>
    public async Task RestartAsync()
    {
        if (_process is { HasExited: false })
        {
            throw new InvalidOperationException("sshd is already running");
        }
        var log = new ProcessOutput();
        _logs.Add(log);
        var psi = new ProcessStartInfo("unshare")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        // unshare execs sh, which execs sshd: the pid we hold is sshd's own.
        foreach (var arg in new[] { "-m", "--", "sh", "-c", "mount --bind \"$1\" /run && exec \"$2\" -D -e -f \"$3\"", "sh", _run, SshdPath, _config })
        {
            psi.ArgumentList.Add(arg);
        }
        _process = Process.Start(psi) ?? throw new InvalidOperationException("cannot start sshd");
        log.Attach(_process, "[sshd] ");
        var deadline = DateTime.UtcNow + ReadyTimeout;
        while (!log.Lines.Any(l => l.Contains($"Server listening on 127.0.0.1 port {Port}", StringComparison.Ordinal)))
        {
            if (_process.HasExited || DateTime.UtcNow > deadline)
            {
                throw new InvalidOperationException($"sshd did not start listening on port {Port}:\n{log}");
            }
            await Task.Delay(20);
        }
    }

    public async Task KillAsync()
    {
        if (_process is { HasExited: false } p)
        {
            p.Kill(entireProcessTree: true);
            await p.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
        }
    }

    /// <summary>Lets a client key log in (a line of an OpenSSH .pub file).</summary>
    public void AuthorizeKey(string publicKeyLine) =>
        File.AppendAllText(Path.Combine(_dir, "authorized_keys"), publicKeyLine.TrimEnd() + "\n");

    public void Freeze() => Posix.Signal(Pid, Posix.SIGSTOP);

    public void Thaw() => Posix.Signal(Pid, Posix.SIGCONT);

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (_process is { HasExited: false })
            {
                Posix.Signal(_process.Id, Posix.SIGCONT); // leave no frozen process behind, whatever happens next
                foreach (var pid in _frozenSessions)
                {
                    Posix.Signal(pid, Posix.SIGCONT);
                }
            }
            await KillAsync();
        }
        finally
        {
            _process?.Dispose();
            try
            {
                Directory.Delete(_dir, recursive: true);
            }
            catch (IOException)
            {
            }
            DumpLogs();
        }
    }

    private void DumpLogs()
    {
        if (_output is not null)
        {
            foreach (var log in _logs)
            {
                foreach (var line in log.Lines)
                {
                    _output.WriteLine(line);
                }
            }
        }
    }

    private static async Task Run(string file, params string[] args)
    {
        var result = await ExternalCommand.RunAsync(file, args, TimeSpan.FromSeconds(30));
        if (result.ExitCode != 0 || result.TimedOut)
        {
            throw new InvalidOperationException(result.Describe());
        }
    }
}
