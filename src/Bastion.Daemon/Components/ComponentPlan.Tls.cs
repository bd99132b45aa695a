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
            // The dial interval, maxSessions, idleTimeout and stockViewers are the spec's Policy, taken live (a reload that
            // changes only them keeps the endpoint and its connected admins); the rest is the process definition.
            specs.Add(new(new("tls", endpoint.Name), definition.WithoutLiveSettings(), config.Supervision.Backoff,
                () => new TlsEndpoint(definition, runtime.VncGates, loggers.CreateLogger("Bastion.Tls")))
            {
                Policy = definition.Live,
            });
        }
    }
}
