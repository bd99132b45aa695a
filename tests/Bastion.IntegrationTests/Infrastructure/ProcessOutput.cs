using System.Diagnostics;
using System.Text;

namespace Bastion.IntegrationTests.Infrastructure;

/// <summary>Collects a child process's stdout and stderr lines (thread-safe) so tests can wait for a line and dump the log on failure.</summary>
internal sealed class ProcessOutput
{
    private readonly List<string> _lines = [];
    private readonly Lock _lock = new();

    public void Attach(Process process, string prefix = "")
    {
        process.OutputDataReceived += (_, e) => Add(e.Data, prefix);
        process.ErrorDataReceived += (_, e) => Add(e.Data, prefix);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    private void Add(string? line, string prefix)
    {
        if (line is null)
        {
            return;
        }
        lock (_lock)
        {
            _lines.Add(prefix + line);
        }
    }

    public IReadOnlyList<string> Lines
    {
        get { lock (_lock) { return [.. _lines]; } }
    }

    public override string ToString()
    {
        var sb = new StringBuilder();
        foreach (var line in Lines)
        {
            sb.AppendLine(line);
        }
        return sb.ToString();
    }

    public async Task<string> WaitForLineAsync(Func<string, bool> match, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            var hit = Lines.FirstOrDefault(match);
            if (hit is not null)
            {
                return hit;
            }
            await Task.Delay(20);
        }
        throw new TimeoutException($"no output line '{what}' within {timeout.TotalSeconds}s; output:\n{this}");
    }
}
