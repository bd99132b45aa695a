using Bastion.Config;
using Bastion.Daemon.Components;
using Bastion.Daemon.Logging;
using Bastion.Daemon.Systemd;
using Bastion.Supervision;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Serilog;
using Serilog.Core;

namespace Bastion.Daemon.Hosting;

/// <summary>Builds the host around a valid config and runs it until SIGTERM/SIGINT.</summary>
internal static class DaemonHost
{
    public static int Run(BastionConfig config, SighupRelay sighup)
    {
        var levelSwitch = new LoggingLevelSwitch();
        using var serilog = LogSetup.Create(config.Logging, levelSwitch);
        if (!PrepareDirectories(config.Paths, serilog))
        {
            return 1;
        }
        PrepareFleetNodeKey(config, serilog);
        using var notifier = SystemdNotifier.FromEnvironment();

        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings
        {
            DisableDefaults = true,
            Args = [],
            ContentRootPath = AppContext.BaseDirectory,
        });
        builder.Logging.ClearProviders();
        builder.Logging.SetMinimumLevel(LogLevel.Trace); // Serilog's level switch decides
        builder.Services.AddSerilog(serilog, dispose: false);
        builder.Services.Configure<ConsoleLifetimeOptions>(o => o.SuppressStatusMessages = true);
        builder.Services.Configure<HostOptions>(o =>
        {
            // The daemon's own stop is bounded by supervision.stopTimeout (at most 5m, also after a reload that
            // changes it) plus a short grace; the host's limit sits above that so ours is always the one that fires.
            o.ShutdownTimeout = SupervisionConfig.MaxStopTimeout + Supervisor.OverrunGrace + TimeSpan.FromSeconds(10);
            o.BackgroundServiceExceptionBehavior = BackgroundServiceExceptionBehavior.StopHost;
        });
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton(config);
        builder.Services.AddSingleton(notifier);
        builder.Services.AddSingleton(levelSwitch);
        builder.Services.AddSingleton(sighup);
        builder.Services.AddSingleton(sp => new Supervisor(sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILoggerFactory>()));
        // What components share (check results, the desktop's gates, the tor session, SSH sessions): one per daemon.
        builder.Services.AddSingleton(sp => new DaemonRuntime(sp.GetRequiredService<ILoggerFactory>(), sp.GetRequiredService<TimeProvider>()));
        builder.Services.AddHostedService<DaemonService>();

        // SSH.NET blocks pool threads in synchronous waits: see SshSessionPool.MinimumThreads.
        ThreadPool.GetMinThreads(out var workers, out var io);
        ThreadPool.SetMinThreads(Math.Max(workers, Tunnels.SshSessionPool.MinimumThreads), Math.Max(io, Tunnels.SshSessionPool.MinimumThreads));
        using var host = builder.Build();
        try
        {
            host.Run();
        }
#pragma warning disable CA1031 // Last line of defence: log it on one line and exit non-zero so systemd restarts us.
        catch (Exception e)
#pragma warning restore CA1031
        {
            serilog.Fatal(e, "bastiond failed");
            return 1;
        }
        return Environment.ExitCode;
    }

    /// <summary>
    /// With a fleet: section, the node key is created on the first start (STATEDIR/fleet/node_key). Not yet connected
    /// to a broker. A key problem is logged and leaves every other way in running: the fleet is one way in of several.
    /// Only the public fingerprint is ever logged.
    /// </summary>
    private static void PrepareFleetNodeKey(BastionConfig config, Serilog.ILogger log)
    {
        if (config.Fleet is not { } fleet)
        {
            return;
        }
        try
        {
            var (key, created) = Bastion.Fleet.FleetNodeKey.LoadOrCreate(config.Paths.StateDir, "bastion-fleet " + fleet.Node);
            using (key)
            {
                log.Information(created ? "fleet: node key for {Node} created: {Fingerprint} ({Path}); bastionctl fleet node-key prints it for the admins' node list"
                    : "fleet: node key for {Node} is {Fingerprint} ({Path})", fleet.Node, key.PublicKey.Fingerprint, Bastion.Fleet.FleetNodeKey.PathIn(config.Paths.StateDir));
            }
        }
        catch (Bastion.Fleet.NodeKeyException e)
        {
            log.Error("fleet: {Problem}", e.Message);
        }
    }

    /// <summary>State is private (keys live there); the runtime dir is readable so admins' bastionctl can read status.json.</summary>
    private static bool PrepareDirectories(PathsConfig paths, Serilog.ILogger log)
    {
        try
        {
            Directory.CreateDirectory(paths.StateDir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            var runtimeExisted = Directory.Exists(paths.RuntimeDir);
            Directory.CreateDirectory(paths.RuntimeDir);
            if (!runtimeExisted)
            {
                // Explicit chmod: mkdir's mode is filtered by the umask (0077 under the unit).
                File.SetUnixFileMode(paths.RuntimeDir,
                    UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute |
                    UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
            }
            // StrictModes for directories: refused unless ours and not writable by group or others.
            var uid = DirectoryCheck.EffectiveUid;
            foreach (var dir in new[] { paths.StateDir, paths.RuntimeDir })
            {
                var (problem, ownership, error) = DirectoryCheck.Check(dir, uid);
                if (problem != IO.DirectoryProblem.None)
                {
                    log.Fatal("not starting: {Problem}", IO.DirectoryTrust.Describe(dir, problem, ownership, uid, error));
                    return false;
                }
            }
            if ((File.GetUnixFileMode(paths.StateDir) & (UnixFileMode.OtherRead | UnixFileMode.OtherExecute)) != 0)
            {
                log.Warning("state directory {StateDir} is accessible by others; it holds private keys — chmod 700 {StateDir}", paths.StateDir, paths.StateDir);
            }
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            log.Fatal("cannot create {Directory}: {Error} — create it or fix paths.stateDir / paths.runtimeDir", paths.StateDir + " or " + paths.RuntimeDir, e.Message);
            return false;
        }
    }
}
