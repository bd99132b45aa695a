// CA1873: these log calls run once per state change or command, never in a hot loop; the cost is irrelevant.
#pragma warning disable CA1873

using System.Globalization;
using Bastion.Config;
using Bastion.Daemon.Checks;
using Bastion.Supervision;
using Bastion.Vnc;

namespace Bastion.Daemon.Vnc;

// Admins' commands (bastionctl vnc start|stop|auto through D-Bus), the password file, and the details shown in status.
public sealed partial class VncComponent
{
    /// <summary>Sets or clears the override (in the loop, from the inbox) and says what happens now.</summary>
    private VncCommandOutcome Apply(VncCommand command, Run run, DateTimeOffset now, string? loggedIn)
    {
        DateTimeOffset? until = command.For is { } span ? now + span : null;
        var untilText = until is { } u ? " until " + Time(u) : " until bastionctl vnc auto";
        string message;
        switch (command.Action)
        {
            case VncCommandAction.Start:
                _policy.SetOverride(new VncOverride(VncOverrideAction.Start, until, false, now));
                message = $"raising the emergency desktop; it stays up{untilText}";
                break;
            case VncCommandAction.Stop:
                _policy.SetOverride(new VncOverride(VncOverrideAction.Stop, until, command.Force, now));
                var clients = _gate.Clients;
                message = clients == 0
                    ? $"lowering the emergency desktop; it stays down{untilText}"
                    : command.Force
                        ? $"lowering the emergency desktop now, cutting off {Clients(clients)}; it stays down{untilText}"
                        : $"{Clients(clients)} connected: the desktop is lowered once {(clients == 1 ? "it leaves" : "they leave")} (--force cuts them off); it stays down{untilText}";
                break;
            case VncCommandAction.Auto:
                _policy.SetOverride(null);
                message = "back to automatic (vnc.mode " + ModeText(_settings.Mode) + "): "
                    + _policy.Decide(now, run.Raised, _gate.Clients, loggedIn).Reason;
                break;
            default:
                return new VncCommandOutcome(false, $"unknown action {command.Action}");
        }
        VncLog.CommandApplied(_logger, command.Action.ToString().ToLowerInvariant(), message);
        return new VncCommandOutcome(true, message);
    }

    private static string Clients(int n) => n == 1 ? "1 client" : n.ToString(CultureInfo.InvariantCulture) + " clients";

    private static string ModeText(VncMode mode) => mode switch
    {
        VncMode.Always => "always",
        VncMode.Fallback => "fallback",
        _ => "off",
    };

    private static string Time(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    /// <summary>
    /// The VNC password: from vnc.passwordFile, or from the generated file in the state dir — made once (random, 0600) and
    /// reused after, so an admin who noted it keeps it. Never logged; status shows the file's path only.
    /// </summary>
    private string LoadPassword()
    {
        try
        {
            if (_generatedPassword && !File.Exists(_passwordFile))
            {
                var password = VncPasswordFile.Generate();
                VncPasswordFile.Write(_passwordFile, password);
                VncLog.PasswordGenerated(_logger, _passwordFile);
                return password;
            }
            return VncPasswordFile.Read(_passwordFile);
        }
        catch (InvalidDataException e)
        {
            throw new ComponentFailureException(e.Message);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ComponentFailureException($"cannot write the VNC password file {_passwordFile}: {e.Message} (check paths.stateDir)");
        }
    }

    /// <summary>Xvnc reads its password file at every authentication, so the probe does too (a changed password is followed).</summary>
    private string ReadPasswordForProbe(string previous)
    {
        try
        {
            return VncPasswordFile.Read(_passwordFile);
        }
        catch (Exception e) when (e is InvalidDataException or IOException or UnauthorizedAccessException)
        {
            return previous; // the probe then says "auth broken" if Xvnc cannot use the file either
        }
    }

    private void SetStaticDetails(IComponentContext context)
    {
        context.SetDetail("display", ":" + _config.Display.ToString(CultureInfo.InvariantCulture));
        context.SetDetail("configuredDisplay", ":" + _config.Display.ToString(CultureInfo.InvariantCulture));
        context.SetDetail("geometry", _config.Geometry);
        context.SetDetail("socket", VncPaths.Socket(_paths));
        context.SetDetail("endpoint", "tls/" + _endpoint);
        context.SetDetail("passwordFile", _passwordFile);
        context.SetDetail("desired", "lowered");
        context.SetDetail("override", "none");
        context.SetDetail("clients", "0");
        context.SetDetail("xvncPid", "-");
        context.SetDetail("sessionPid", "-");
        context.SetDetail("probe", "-");
        context.SetDetail("xvncRestarts", "0");
        context.SetDetail("sshd", "-");
        context.SetDetail("consecutiveFailures", "0");
        context.SetDetail("healthySince", "-");
    }

    private void SetDecisionDetails(IComponentContext context, VncDecision decision)
    {
        var settings = _settings;
        var current = _policy.Override;
        var failures = _policy.ConsecutiveFailures;
        var healthySince = _policy.HealthySince;
        var check = _lastCheck;
        context.SetDetail("mode", ModeText(settings.Mode));
        context.SetDetail("check", settings.Mode == VncMode.Fallback && settings.Check is { } name ? "check/" + name : "-");
        context.SetDetail("desired", decision.Raised ? "raised" : "lowered");
        context.SetDetail("override", current?.Describe() ?? "none");
        context.SetDetail("clients", _gate.Clients.ToString(CultureInfo.InvariantCulture));
        if (settings.Mode == VncMode.Fallback)
        {
            context.SetDetail("sshd", check is null ? "-" : (check.Ok ? "ok: " : "failed: ") + check.Text);
            context.SetDetail("consecutiveFailures", failures.ToString(CultureInfo.InvariantCulture));
            context.SetDetail("healthySince", healthySince is { } since ? Time(since) : "-");
        }
    }

    private static void SetProcessDetails(IComponentContext context, IDesktop desktop)
    {
        context.SetDetail("display", ":" + desktop.Display.ToString(CultureInfo.InvariantCulture));
        context.SetDetail("xvncPid", desktop.Xvnc is { HasExited: false } x ? x.Pid.ToString(CultureInfo.InvariantCulture) : "-");
        context.SetDetail("sessionPid", desktop.Session is { HasExited: false } s ? s.Pid.ToString(CultureInfo.InvariantCulture) : "-");
    }
}
