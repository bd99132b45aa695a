namespace Bastion.Config;

// paths:, logging:, supervision:, dbus:, and the backoff and probe blocks shared by several sections.
// Defaults come from the model records, never from here.
internal sealed partial class ConfigBinder
{
    private PathsConfig BindPaths(KeyedMapping? m)
    {
        var d = new PathsConfig();
        return new PathsConfig
        {
            StateDir = FilePath(Get(m, "stateDir")) ?? d.StateDir,
            RuntimeDir = FilePath(Get(m, "runtimeDir")) ?? d.RuntimeDir,
        };
    }

    private LoggingConfig BindLogging(KeyedMapping? m)
    {
        var d = new LoggingConfig();
        return new LoggingConfig
        {
            Level = Choice(Get(m, "level"), ConfigChoices.LogLevel) ?? d.Level,
            Format = Choice(Get(m, "format"), ConfigChoices.LogFormat) ?? d.Format,
        };
    }

    private SupervisionConfig BindSupervision(KeyedMapping? m)
    {
        var d = new SupervisionConfig();
        return new SupervisionConfig
        {
            Backoff = BindBackoff(Section(m, "backoff"), d.Backoff),
            StopTimeout = Duration(Get(m, "stopTimeout"), SupervisionConfig.MaxStopTimeout,
                "systemd's TimeoutStopSec would kill bastiond before its components are stopped") ?? d.StopTimeout,
        };
    }

    /// <summary>A backoff block; keys it leaves out come from <paramref name="inherited"/>.</summary>
    private BackoffConfig BindBackoff(KeyedMapping? m, BackoffConfig inherited)
    {
        var initial = Duration(Get(m, "initial"), BackoffConfig.Longest);
        var max = Duration(Get(m, "max"), BackoffConfig.Longest);
        var resetAfter = Duration(Get(m, "resetAfter"), BackoffConfig.Longest);
        Ordered(m, strict: false, "initial", initial, inherited.Initial, "max", max, inherited.Max);
        return new BackoffConfig
        {
            Initial = initial ?? inherited.Initial,
            Max = max ?? inherited.Max,
            ResetAfter = resetAfter ?? inherited.ResetAfter,
        };
    }

    private ProbeConfig BindProbe(KeyedMapping? m)
    {
        var d = new ProbeConfig();
        var interval = Duration(Get(m, "interval"));
        var timeout = Duration(Get(m, "timeout"));
        Ordered(m, strict: true, "timeout", timeout, d.Timeout, "interval", interval, d.Interval);
        return new ProbeConfig
        {
            Interval = interval ?? d.Interval,
            Timeout = timeout ?? d.Timeout,
            Failures = Integer(Get(m, "failures"), 1) ?? d.Failures,
        };
    }

    private DbusConfig BindDbus(KeyedMapping? m)
    {
        var d = new DbusConfig();
        var busAt = Get(m, "bus");
        var bus = Choice(busAt, ConfigChoices.Bus);
        var addressAt = Get(m, "address");
        var address = Text(addressAt);
        if (addressAt is { } badAddress && address is not null && !LooksLikeDbusAddress(address))
        {
            errors.Add(badAddress, $"'{address}' is not a D-Bus address",
                "write transport:key=value, e.g. unix:path=/run/bastion/bus");
        }
        if (m is not null && (busAt is null || bus is not null))
        {
            var effective = bus ?? d.Bus;
            if (effective == BusKind.Address && addressAt is null)
            {
                errors.Add(m.Node, m.PathOf("address"), "is missing; bus: address needs it",
                    "add it, e.g. address: unix:path=/run/bastion/bus");
            }
            else if (effective != BusKind.Address && addressAt is { } at)
            {
                errors.Add(at, "is only used with bus: address", "remove it, or set bus: address");
            }
        }
        var groupAt = Get(m, "adminGroup");
        var group = Text(groupAt);
        if (groupAt is { } badGroup && group is not null && !IsGroupName(group))
        {
            errors.Add(badGroup, $"'{group}' is not a group name",
                "write the name of a local group (letters, digits, '_', '-', '.'), e.g. adminGroup: bastion-admin");
            group = null;
        }
        return new DbusConfig { Bus = bus ?? d.Bus, Address = address, AdminGroup = group ?? d.AdminGroup };
    }

    private static bool IsGroupName(string name) =>
        name.Length is > 0 and <= 32 && name[0] != '-' && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.');

    private static bool LooksLikeDbusAddress(string address)
    {
        var colon = address.IndexOf(':', StringComparison.Ordinal);
        return colon > 0 && address.IndexOf('=', colon) > colon + 1;
    }
}
