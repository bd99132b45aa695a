using System.Diagnostics;

namespace Bastion.Tests.Fleet;

/// <summary>
/// The real OpenSSH ssh-keygen as the judge of SSHSIG and allowed_signers behaviour: keys are generated in a private
/// temp directory that is removed on dispose. A missing ssh-keygen fails the test loudly.
/// </summary>
internal sealed class SshKeygen : IDisposable
{
    public const string Path = "/usr/bin/ssh-keygen";

    public SshKeygen()
    {
        Assert.True(System.IO.File.Exists(Path), $"{Path} is required (openssh-client; scripts/install-deps.sh)");
        Directory = System.IO.Directory.CreateTempSubdirectory("bastion-sshsig-").FullName;
    }

    public string Directory { get; }

    public string File(string name) => System.IO.Path.Combine(Directory, name);

    /// <summary>Generates a key (<c>-t TYPE [-b BITS] -N ''</c>) and returns its private key path.</summary>
    public string Generate(string name, string type, int bits = 0, string passphrase = "")
    {
        var args = new List<string> { "-q", "-t", type, "-N", passphrase, "-C", name, "-f", File(name) };
        if (bits > 0)
        {
            args.AddRange(["-b", bits.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        }
        var result = Run(args);
        Assert.True(result.ExitCode == 0, $"ssh-keygen -t {type} failed: {result.Error}");
        return File(name);
    }

    public string PublicKeyText(string name) => System.IO.File.ReadAllText(File(name) + ".pub").Trim();

    /// <summary><c>ssh-keygen -Y sign -n NS -f KEY FILE</c>; returns the armored signature text.</summary>
    public string Sign(string key, byte[] message, string ns, string? hashAlgorithm = null)
    {
        var data = File("msg-" + Guid.NewGuid().ToString("N"));
        System.IO.File.WriteAllBytes(data, message);
        var args = new List<string> { "-Y", "sign", "-n", ns, "-f", key };
        if (hashAlgorithm is not null)
        {
            args.Add("-Ohashalg=" + hashAlgorithm);
        }
        args.Add(data);
        var result = Run(args);
        Assert.True(result.ExitCode == 0, $"ssh-keygen -Y sign failed: {result.Error}");
        return System.IO.File.ReadAllText(data + ".sig");
    }

    /// <summary><c>ssh-keygen -Y verify</c> exit status (0 = accepted), with the message on stdin.</summary>
    public (int ExitCode, string Error) Verify(string allowedSignersText, string principal, string ns, string armored, byte[] message, string? verifyTime = null)
    {
        var signers = File("allowed-" + Guid.NewGuid().ToString("N"));
        System.IO.File.WriteAllText(signers, allowedSignersText);
        var sig = File("sig-" + Guid.NewGuid().ToString("N"));
        System.IO.File.WriteAllText(sig, armored);
        var args = new List<string> { "-Y", "verify", "-f", signers, "-I", principal, "-n", ns, "-s", sig };
        if (verifyTime is not null)
        {
            args.Add("-Overify-time=" + verifyTime);
        }
        var result = Run(args, message);
        return (result.ExitCode, result.Error);
    }

    public static (int ExitCode, string Output, string Error) Run(IEnumerable<string> args, byte[]? stdin = null)
    {
        var start = new ProcessStartInfo(Path)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }
        // Times without Z in allowed_signers are local time; both judges must read them in the same zone.
        start.Environment["TZ"] = "UTC";
        using var process = Process.Start(start)!;
        if (stdin is not null)
        {
            process.StandardInput.BaseStream.Write(stdin);
        }
        process.StandardInput.Close();
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromSeconds(60)))
        {
            process.Kill();
            Assert.Fail("ssh-keygen did not finish within 60 s");
        }
        return (process.ExitCode, output.Result, error.Result);
    }

    public void Dispose()
    {
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
