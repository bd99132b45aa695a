using Bastion.Config;
using Bastion.Daemon.Tls;
using Bastion.Supervision;
using Microsoft.Extensions.Logging;

namespace Bastion.Daemon.Components;

public static partial class ComponentPlan
{
    private static void AddTls(BastionConfig config, ILoggerFactory loggers, List<ComponentSpec> specs)
    {
        foreach (var endpoint in config.Tls)
        {
            var definition = TlsEndpointDefinition.From(config, endpoint);
            specs.Add(new(new("tls", endpoint.Name), definition, config.Supervision.Backoff,
                () => new TlsEndpoint(definition, loggers.CreateLogger("Bastion.Tls"))));
        }
    }

    private static void TlsNotRunYet(BastionConfig config, List<string> sections)
    {
        _ = config;
        _ = sections;
    }

    private static void PkiNotRunYet(BastionConfig config, List<string> sections)
    {
        // pki: is used by bastionctl pki and by the tls: endpoints (their default CA and CRL); nothing to run by itself.
        _ = config;
        _ = sections;
    }
}
