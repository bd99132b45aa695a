using Bastion.Config;
using Bastion.Daemon.Checks;
using Bastion.Daemon.Tor;
using Bastion.Daemon.Tunnels;
using Bastion.Daemon.Vnc;
using Microsoft.Extensions.Logging;

namespace Bastion.Daemon.Components;

/// <summary>
/// What components share inside one daemon, created once by the host and handed to <see cref="ComponentPlan.Build"/>:
/// the links between components are visible here and nowhere else (check → vnc through <see cref="Checks"/>, vnc ↔ tls
/// through <see cref="VncGates"/>, tor → onion through <see cref="Tor"/>, tunnel → session through <see cref="Sessions"/>).
/// It outlives reloads: a reload that restarts one side of a link must find the other side here. Nothing in it is
/// static, so a test can build two daemons' worth of components in one process.
/// </summary>
public sealed class DaemonRuntime
{
    public DaemonRuntime(ILoggerFactory loggers, TimeProvider time)
    {
        Loggers = loggers;
        Time = time;
        Checks = new CheckResults();
        VncGates = new VncGates();
        Tor = new TorRuntime();
        Sessions = new SshSessionPool(loggers, time);
        Status = new LatestStatus();
    }

    public ILoggerFactory Loggers { get; }

    public TimeProvider Time { get; }

    /// <summary>Every check's last probe outcome; the emergency desktop's fallback policy subscribes here.</summary>
    public CheckResults Checks { get; }

    /// <summary>Where the emergency desktop and the TLS endpoint in front of it meet, one gate per endpoint name.</summary>
    public VncGates VncGates { get; }

    /// <summary>The managed tor's control session, published by the tor component for the onion services.</summary>
    internal TorRuntime Tor { get; }

    /// <summary>The daemon's last published status, which the fleet link seals and sends to the broker.</summary>
    public LatestStatus Status { get; }

    /// <summary>
    /// The daemon's control loop (the queue D-Bus requests go through), set by the loop when it starts; the fleet's commands
    /// take the same path. Null before that.
    /// </summary>
    internal DBus.IDaemonControl? Control { get; set; }

    /// <summary>The SSH sessions tunnels share.</summary>
    internal SshSessionPool Sessions { get; }

    /// <summary>
    /// Drops what belongs to names the config no longer has (a removed check's last result, a removed endpoint's gate),
    /// so a daemon reloaded many times holds only what its current config names.
    /// </summary>
    internal void Retain(BastionConfig config)
    {
        Checks.Retain(config.Checks.Select(c => c.Name));
        VncGates.Retain(config.Vnc?.Endpoint is { } endpoint ? [endpoint] : []);
    }
}
