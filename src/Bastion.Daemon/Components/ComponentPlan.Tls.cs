using Bastion.Config;
using Bastion.Supervision;

namespace Bastion.Daemon.Components;

public static partial class ComponentPlan
{
    private static void AddTls(BastionConfig config, List<ComponentSpec> specs)
    {
        foreach (var endpoint in config.Tls)
        {
            specs.Add(Unavailable("tls", endpoint.Name, endpoint, config.Supervision.Backoff, $"TLS endpoints are not available in bastiond {DaemonVersion.Text} yet; nothing listens"));
        }
    }

    private static void TlsNotRunYet(BastionConfig config, List<string> sections)
    {
        if (!config.Tls.IsEmpty)
        {
            sections.Add("tls");
        }
    }

    private static void PkiNotRunYet(BastionConfig config, List<string> sections)
    {
        if (config.Pki is not null)
        {
            sections.Add("pki");
        }
    }
}
