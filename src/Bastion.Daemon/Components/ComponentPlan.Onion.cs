using Bastion.Config;
using Bastion.Daemon.Logging;
using Bastion.Daemon.Tor;
using Bastion.Supervision;
using Microsoft.Extensions.Logging;
using Serilog.Core;
using Serilog.Extensions.Logging;

namespace Bastion.Daemon.Components;

public static partial class ComponentPlan
{
    /// <summary>
    /// One per daemon, across reloads: a tor component left untouched by a reload and onion services rebuilt by it
    /// must still meet in the same place.
    /// </summary>
    private static readonly TorRuntime Tor = new();

    private static readonly LoggingLevelSwitch TorLogLevel = new();
    private static ILoggerFactory? _torLoggers;

    private static void AddOnion(BastionConfig config, List<ComponentSpec> specs)
    {
        if (config.Onion is not { } onion)
        {
            return;
        }
        var backoff = config.Supervision.Backoff;
        var loggers = TorLoggers(config.Logging);
        var stateDir = config.Paths.StateDir;
        specs.Add(new(new("tor", "tor"), onion.Tor, backoff,
            () => new TorComponent(onion.Tor, stateDir, Tor, loggers.CreateLogger("Bastion.Tor"))));
        foreach (var service in onion.Services)
        {
            var definition = OnionServiceDefinition.Load(service, stateDir);
            specs.Add(new(new("onion", service.Name), definition, backoff,
                () => new OnionServiceComponent(definition, Tor, loggers.CreateLogger("Bastion.Onion"))));
        }
    }

    /// <summary>
    /// The plan has no logger from the host yet, so tor's messages get their own pipeline with the daemon's format and
    /// level (same stderr, same one-line format). TODO(lead): pass the host's ILoggerFactory into ComponentPlan.Build.
    /// </summary>
    private static ILoggerFactory TorLoggers(LoggingConfig logging)
    {
        lock (TorLogLevel)
        {
            _torLoggers ??= new SerilogLoggerFactory(LogSetup.Create(logging, TorLogLevel), dispose: true);
            TorLogLevel.MinimumLevel = LogSetup.ToSerilog(logging.Level);
            return _torLoggers;
        }
    }

    private static void OnionNotRunYet(BastionConfig config, List<string> sections)
    {
        // Onion services run (tor and onion components); nothing of this section is left out.
        _ = config;
        _ = sections;
    }
}
