using Bastion.Status;

namespace Bastion.IntegrationTests.Cli;

/// <summary>Status snapshots for the tests: a daemon with components of several kinds, one with a long reason.</summary>
internal static class Snapshots
{
    public const string LongReason =
        "ssh: connect to office.example.org port 22 via 127.0.0.1:9050 failed: the SOCKS proxy answered 'host unreachable' "
        + "(tor has no circuit yet); retrying in 32s with exponential backoff and jitter, the next failure doubles the wait "
        + "up to supervision.backoff.max (60s) END-OF-REASON";

    public static StatusSnapshot Daemon(
        int pid,
        IReadOnlyList<ComponentStatus>? components = null,
        string state = "running",
        DateTimeOffset? lastReloadAt = null,
        IReadOnlyList<string>? configErrors = null)
    {
        var now = DateTimeOffset.UtcNow;
        return new StatusSnapshot
        {
            Daemon = new DaemonStatus
            {
                Pid = pid,
                Version = "0.1.0",
                State = state,
                Summary = "1 of 2 tunnels up; onion published",
                ConfigPath = "/etc/bastion/bastion.yaml",
                StartedAt = now - TimeSpan.FromHours(2),
                LastReloadAt = lastReloadAt,
                ConfigErrors = configErrors ?? [],
                WrittenAt = now,
            },
            Components = components ?? MixedComponents(now),
        };
    }

    public static IReadOnlyList<ComponentStatus> MixedComponents(DateTimeOffset now) =>
    [
        Component("check", "sshd", "Running", "sshd answers with SSH-2.0-OpenSSH_9.2p1", now - TimeSpan.FromMinutes(90)),
        Component("tunnel", "office", "Running", "forwarding 127.0.0.1:2222 to office.example.org:22", now - TimeSpan.FromSeconds(192)),
        Component("tunnel", "home-via-tor", "Backoff", LongReason, now - TimeSpan.FromSeconds(5), starts: 7),
        Component("tor", "tor", "Running", "bootstrapped 100%", now - TimeSpan.FromHours(1)),
        Component("onion", "sshd-onion", "Running", "published", now - TimeSpan.FromMinutes(59)),
    ];

    public static ComponentStatus Component(string kind, string name, string state, string reason, DateTimeOffset since, long starts = 1) =>
        new()
        {
            Kind = kind,
            Name = name,
            State = state,
            Reason = reason,
            Since = since,
            Starts = starts,
            Instance = name + "-1",
            Details = new Dictionary<string, string> { ["example"] = "detail" },
        };
}
