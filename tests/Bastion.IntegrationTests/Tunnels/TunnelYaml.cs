using Bastion.IntegrationTests.Infrastructure;

namespace Bastion.IntegrationTests.Tunnels;

/// <summary>The <c>tunnels:</c> config the tunnel tests use: fast probes and backoff, a test sshd as the server.</summary>
internal static class TunnelYaml
{
    public static string TunnelsYaml(params string[] items) => "tunnels:\n" + string.Concat(items);

    public static string Item(
        string name, string kind, Sshd sshd, string identity, string bind, string? target,
        string? hostKey = null, string extra = "", string probe = "interval: 1s\n      timeout: 500ms\n      failures: 2", string? host = null) =>
        $"""
          - name: {name}
            kind: {kind}
            server:
              host: {host ?? "127.0.0.1"}
              port: {sshd.Port}
              user: {Sshd.User}
              identity: {identity}
              hostKey:
                {hostKey ?? $"fingerprints: [\"{sshd.HostKeyFingerprint}\"]"}
            bind: {bind}
        {(target is null ? "" : $"    target: {target}\n")}    probe:
              {probe}
            backoff:
              initial: 100ms
              max: 500ms
        {extra}
        """;
}
