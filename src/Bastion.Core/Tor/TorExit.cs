namespace Bastion.Tor;

/// <summary>
/// Why tor ended, in words. A signal is named (.NET reports a process killed by signal N as exit code 128+N; tor itself
/// only exits with 0 or 1); only tor's own error line counts as a cause — the last warning before a SIGKILL is
/// whatever tor happened to be complaining about, not why it died.
/// </summary>
public static class TorExit
{
    public static string Describe(int exitCode, string? lastError)
    {
        if (exitCode > 128 && exitCode < 128 + 65)
        {
            var signal = exitCode - 128;
            return $"tor was killed by signal {signal} ({SignalName(signal)})";
        }
        var text = $"tor exited with code {exitCode}";
        return lastError is null ? text + " (no error in its log)" : text + ": " + lastError;
    }

    public static string SignalName(int signal) => signal switch
    {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        4 => "SIGILL",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        13 => "SIGPIPE",
        14 => "SIGALRM",
        15 => "SIGTERM",
        24 => "SIGXCPU",
        25 => "SIGXFSZ",
        31 => "SIGSYS",
        _ => "signal " + signal,
    };
}
