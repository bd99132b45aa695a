using System.Diagnostics;
using Bastion.IntegrationTests.Infrastructure;
using Xunit.Abstractions;

namespace Bastion.IntegrationTests.Fleet;

/// <summary>
/// A real OpenSSH ssh-agent for one test: started in the foreground (<c>-D</c>) on a socket in its own private directory,
/// ready when the socket exists, killed by PID on dispose. <see cref="AddAsync"/> loads a key with ssh-add, answering a
/// passphrase through SSH_ASKPASS (there is no terminal), as an admin's desktop agent would hold it.
/// </summary>
internal sealed class SshAgent : IAsyncDisposable
{
    private readonly TempRoot _root = new("ssh-agent-");
    private readonly ITestOutputHelper _output;
    private readonly ProcessOutput _log = new();
    private Process? _process;

    private SshAgent(ITestOutputHelper output) => _output = output;

    /// <summary>The agent's socket: the SSH_AUTH_SOCK of this agent.</summary>
    public string Socket => _root.File("agent.sock");

    public static async Task<SshAgent> StartAsync(ITestOutputHelper output)
    {
        var agent = new SshAgent(output);
        try
        {
            var psi = new ProcessStartInfo("/usr/bin/ssh-agent") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            psi.ArgumentList.Add("-D");
            psi.ArgumentList.Add("-a");
            psi.ArgumentList.Add(agent.Socket);
            agent._process = Process.Start(psi) ?? throw new InvalidOperationException("cannot start ssh-agent");
            agent._log.Attach(agent._process, $"[ssh-agent:{agent._process.Id}] ");
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
            while (!File.Exists(agent.Socket))
            {
                if (agent._process.HasExited || DateTime.UtcNow > deadline)
                {
                    throw new InvalidOperationException($"ssh-agent did not create its socket {agent.Socket}:\n{agent._log}");
                }
                await Task.Delay(20);
            }
            return agent;
        }
        catch
        {
            await agent.DisposeAsync();
            throw;
        }
    }

    /// <summary>ssh-add PATH, typing <paramref name="passphrase"/> through SSH_ASKPASS when the key has one.</summary>
    public async Task AddAsync(string privateKeyPath, string? passphrase)
    {
        var askpass = _root.Write("askpass-" + Path.GetFileName(privateKeyPath), $"#!/bin/sh\nprintf '%s\\n' '{passphrase ?? ""}'\n");
        File.SetUnixFileMode(askpass, UnixFileMode.UserRead | UnixFileMode.UserExecute);
        var env = new Dictionary<string, string>
        {
            ["SSH_AUTH_SOCK"] = Socket,
            ["SSH_ASKPASS"] = askpass,
            ["SSH_ASKPASS_REQUIRE"] = "force",
            ["DISPLAY"] = ":0",
        };
        var added = await ExternalCommand.RunAsync("/usr/bin/ssh-add", [privateKeyPath], TimeSpan.FromSeconds(30), env);
        Assert.True(added.ExitCode == 0, added.Describe());
    }

    public async ValueTask DisposeAsync()
    {
        if (_process is { HasExited: false } p)
        {
            p.Kill();
            await p.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(20));
        }
        _process?.Dispose();
        try
        {
            _output.WriteLine(_log.ToString());
        }
        catch (InvalidOperationException)
        {
            // no test running any more
        }
        _root.Dispose();
    }
}
