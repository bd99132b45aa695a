using Bastion.Config;
using Bastion.Daemon.Tls;
using Bastion.Supervision;
using Microsoft.Extensions.Logging;

namespace Bastion.Daemon.Components;

public static partial class ComponentPlan
{
    private static void AddTls(BastionConfig config, DaemonRuntime runtime, List<ComponentSpec> specs)
    {
        var loggers = runtime.Loggers;
        foreach (var endpoint in config.Tls)
        {
            var definition = TlsEndpointDefinition.From(config, endpoint);
            specs.Add(new(new("tls", endpoint.Name), definition, config.Supervision.Backoff,
                () => new TlsEndpoint(definition, runtime.VncGates, loggers.CreateLogger("Bastion.Tls"))));
        }
    }
}
