using System.CommandLine;
using System.Net;
using Bastion.Config;
using Bastion.Pki;

namespace Bastion.Cli;

/// <summary>
/// <c>bastionctl pki [--dir DIR] init|issue|list|revoke|crl|renew</c>: the session CA (see <see cref="CertificateAuthority"/>).
/// DIR: <c>--dir</c>, else <c>pki.dir</c> of <c>--config</c> (default <c>{paths.stateDir}/pki</c>), else that of
/// /etc/bastion/bastion.yaml if it exists, else /var/lib/bastion/pki. Algorithm and lifetimes come from the same config's
/// <c>pki:</c> section (defaults otherwise). Works on files only: no daemon needed; bastiond sees a revocation on its next handshake.
/// </summary>
internal sealed class PkiCommand(GlobalOptions globalOptions, CliConsole console)
{
    private const string DefaultConfig = "/etc/bastion/bastion.yaml";
    private static readonly string[] ListHeader = ["NAME", "ROLE", "SERIAL", "NOT-AFTER", "STATE", "PIN"];

    private readonly Option<string> _dir = new("--dir")
    {
        Description = "The CA directory [default: pki.dir of --config, else {paths.stateDir}/pki]",
        HelpName = "DIR",
        Recursive = true,
    };

    public Command Create()
    {
        var pki = new Command("pki", "Private session CA: init, issue server and client certificates, list, revoke, crl, renew") { _dir };
        pki.Subcommands.Add(Init());
        pki.Subcommands.Add(Issue());
        pki.Subcommands.Add(List());
        pki.Subcommands.Add(Revoke());
        pki.Subcommands.Add(Crl());
        pki.Subcommands.Add(Renew());
        return pki;
    }

    private Command Init()
    {
        var algorithm = new Option<string>("--algorithm") { Description = "ecdsa-p256 or ecdsa-p384 [default: pki.algorithm, else ecdsa-p256]", HelpName = "ALG" };
        algorithm.AcceptOnlyFromAmong("ecdsa-p256", "ecdsa-p384");
        var name = new Option<string>("--name") { Description = "The CA's common name [default: Bastion session CA HOST DATE]", HelpName = "CN" };
        var command = new Command("init", "Create the session CA (refuses to replace an existing one)") { algorithm, name };
        command.SetAction(parseResult => console.Run(() =>
        {
            var (dir, settings) = Resolve(parseResult);
            if (parseResult.GetValue(algorithm) is { } alg)
            {
                settings = settings with { Algorithm = alg == "ecdsa-p384" ? PkiAlgorithm.EcdsaP384 : PkiAlgorithm.EcdsaP256 };
            }
            var ca = Guard(() => CertificateAuthority.Init(dir, settings, console.Time, parseResult.GetValue(name)));
            using var cert = ca.LoadCaCertificate();
            console.Output.WriteLine($"created the session CA in {ca.Dir}");
            console.Output.WriteLine($"  certificate  {ca.CaCertificatePath}  (give this to servers and clients)");
            console.Output.WriteLine($"  key          {ca.CaKeyPath}  (0600; never leaves this directory)");
            console.Output.WriteLine($"  crl          {ca.CrlPath}");
            console.Output.WriteLine($"  subject      {cert.Subject}");
            console.Output.WriteLine($"  valid until  {PkiIndex.Time(cert.NotAfter.ToUniversalTime())}");
            console.Output.WriteLine($"  pin          {SpkiPin.Of(cert)}");
            return ExitCodes.Ok;
        }));
        return command;
    }

    private Command Issue()
    {
        var server = IssueRole(CertificateRole.Server, "Issue a server certificate (serverAuth only) for a Bastion endpoint");
        var client = IssueRole(CertificateRole.Client, "Issue a client certificate (clientAuth only) for an admin or a friend");
        return new Command("issue", "Issue a certificate and key signed by the session CA") { server, client };
    }

    private Command IssueRole(CertificateRole role, string description)
    {
        var name = new Argument<string>("NAME") { Description = "The certificate's name (its CN and file name)" };
        var days = new Option<int?>("--days") { Description = "Lifetime in days [default: pki.serverLifetime / pki.clientLifetime]", HelpName = "N" };
        var command = new Command(role.Text(), description) { name, days };
        Option<string[]>? dns = null, ip = null;
        if (role == CertificateRole.Server)
        {
            dns = new Option<string[]>("--dns") { Description = "A DNS name clients use to reach the server (repeatable)", HelpName = "HOST" };
            ip = new Option<string[]>("--ip") { Description = "An IP address clients use to reach the server (repeatable)", HelpName = "ADDRESS" };
            command.Options.Add(dns);
            command.Options.Add(ip);
        }
        command.SetAction(parseResult => console.Run(() =>
        {
            var (dir, settings) = Resolve(parseResult);
            var addresses = new List<IPAddress>();
            foreach (var text in ip is null ? [] : parseResult.GetValue(ip) ?? [])
            {
                if (!IPAddress.TryParse(text, out var address))
                {
                    throw new CommandException(ExitCodes.Usage, $"--ip {text} is not an IP address, e.g. --ip 192.0.2.10");
                }
                addresses.Add(address);
            }
            TimeSpan? lifetime = null;
            if (parseResult.GetValue(days) is { } d)
            {
                if (d < 1)
                {
                    throw new CommandException(ExitCodes.Usage, "--days must be 1 or more");
                }
                lifetime = TimeSpan.FromDays(d);
            }
            var dnsNames = dns is null ? [] : parseResult.GetValue(dns) ?? [];
            var ca = Guard(() => CertificateAuthority.Open(dir, settings, console.Time));
            var result = Guard(() => ca.Issue(role, parseResult.GetValue(name)!, dnsNames, addresses, lifetime));
            PrintIssued(result);
            return ExitCodes.Ok;
        }));
        return command;
    }

    private void PrintIssued(IssueResult result)
    {
        var e = result.Entry;
        console.Output.WriteLine($"issued {e.Role.Text()} certificate '{e.Name}'");
        console.Output.WriteLine($"  certificate  {result.CertificatePath}");
        console.Output.WriteLine($"  key          {result.KeyPath}  (0600)");
        console.Output.WriteLine($"  serial       {e.Serial}");
        console.Output.WriteLine($"  valid until  {PkiIndex.Time(e.NotAfter)}{(result.LifetimeClamped ? "  (shortened: a certificate cannot outlive the CA)" : "")}");
        if (e.Sans.Count > 0)
        {
            console.Output.WriteLine($"  names        {string.Join(", ", e.Sans)}");
        }
        console.Output.WriteLine($"  pin          {e.Pin}  (SPKI SHA-256, for tls[].pins)");
    }

    private Command List()
    {
        var command = new Command("list", "List every certificate the CA issued: name, role, serial, expiry, state, pin");
        command.SetAction(parseResult => console.Run(() =>
        {
            var (dir, settings) = Resolve(parseResult);
            var ca = Guard(() => CertificateAuthority.Open(dir, settings, console.Time));
            var entries = Guard(ca.List);
            var now = console.Time.GetUtcNow();
            if (entries.Count == 0)
            {
                console.Output.WriteLine("no certificates issued yet (bastionctl pki issue server|client NAME)");
                return ExitCodes.Ok;
            }
            var rows = new List<string[]> { ListHeader };
            foreach (var e in entries)
            {
                var state = e.State(now);
                if (state == "valid" && e.NotAfter - now <= settings.RenewBefore)
                {
                    state = "renew-soon";
                }
                rows.Add([e.Name, e.Role.Text(), e.Serial, PkiIndex.Time(e.NotAfter), state, e.Pin]);
            }
            var widths = Enumerable.Range(0, 6).Select(i => rows.Max(r => r[i].Length)).ToArray();
            foreach (var row in rows)
            {
                console.Output.WriteLine(string.Join("  ", row.Select((c, i) => i == row.Length - 1 ? c : c.PadRight(widths[i]))));
            }
            foreach (var due in ca.DueForRenewal())
            {
                console.Message($"warning: '{due.Name}' expires on {PkiIndex.Time(due.NotAfter)} — renew it: bastionctl pki renew {due.Name}");
            }
            return ExitCodes.Ok;
        }));
        return command;
    }

    private Command Revoke()
    {
        var target = new Argument<string>("NAME|SERIAL") { Description = "A certificate name (revokes every certificate of that name) or a serial" };
        var command = new Command("revoke", "Revoke a certificate; rewrites the CRL (bastiond refuses it from the next handshake)") { target };
        command.SetAction(parseResult => console.Run(() =>
        {
            var (dir, settings) = Resolve(parseResult);
            var ca = Guard(() => CertificateAuthority.Open(dir, settings, console.Time));
            foreach (var e in Guard(() => ca.Revoke(parseResult.GetValue(target)!)))
            {
                console.Output.WriteLine($"revoked {e.Role.Text()} certificate '{e.Name}' serial {e.Serial}");
            }
            console.Output.WriteLine($"crl written: {ca.CrlPath}");
            return ExitCodes.Ok;
        }));
        return command;
    }

    private Command Crl()
    {
        var command = new Command("crl", "Rewrite the CRL from the index (e.g. after restoring a backup) and print its path");
        command.SetAction(parseResult => console.Run(() =>
        {
            var (dir, settings) = Resolve(parseResult);
            var ca = Guard(() => CertificateAuthority.Open(dir, settings, console.Time));
            console.Output.WriteLine(Guard(ca.WriteCrl));
            return ExitCodes.Ok;
        }));
        return command;
    }

    private Command Renew()
    {
        var name = new Argument<string?>("NAME") { Description = "The certificate to renew [default: every one within pki.renewBefore of expiry]", Arity = ArgumentArity.ZeroOrOne };
        var command = new Command("renew", "Issue a fresh certificate and key under the same name, role and names (the old one stays valid until it expires)") { name };
        command.SetAction(parseResult => console.Run(() =>
        {
            var (dir, settings) = Resolve(parseResult);
            var ca = Guard(() => CertificateAuthority.Open(dir, settings, console.Time));
            var renewed = Guard(() => ca.Renew(parseResult.GetValue(name)));
            if (renewed.Count == 0)
            {
                console.Output.WriteLine($"nothing to renew: no certificate expires within {Durations.Format(settings.RenewBefore)}");
            }
            foreach (var r in renewed)
            {
                PrintIssued(r);
            }
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static T Guard<T>(Func<T> action)
    {
        try
        {
            return action();
        }
        catch (PkiException e)
        {
            throw new CommandException(ExitCodes.Failed, e.Message);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CommandException(ExitCodes.Failed, e.Message);
        }
    }

    /// <summary>The CA directory and settings, from --dir and/or the config (see the class summary).</summary>
    private (string Dir, PkiConfig Settings) Resolve(ParseResult parseResult)
    {
        var dir = parseResult.GetValue(_dir);
        var configPath = parseResult.GetValue(globalOptions.Config);
        if (configPath is null && dir is null && File.Exists(DefaultConfig))
        {
            configPath = DefaultConfig;
        }
        var settings = new PkiConfig();
        string? fromConfig = null;
        if (configPath is not null)
        {
            var full = Path.GetFullPath(configPath);
            var result = ConfigLoader.LoadFile(full, new ConfigLoadOptions { CheckFiles = false });
            if (result.Config is null || result.Errors.Count > 0)
            {
                throw new CommandException(ExitCodes.Failed,
                    $"cannot read the pki: section of {full}:{Environment.NewLine}  {string.Join(Environment.NewLine + "  ", result.Errors)}{Environment.NewLine}"
                    + "fix the config, or pass the CA directory with --dir DIR");
            }
            settings = result.Config.Pki ?? settings;
            fromConfig = Path.GetFullPath(settings.Dir ?? Path.Combine(result.Config.Paths.StateDir, "pki"), Path.GetDirectoryName(full) ?? "/");
        }
        if (dir is { Length: 0 })
        {
            throw new CommandException(ExitCodes.Usage, "--dir is empty — pass the CA directory, e.g. --dir /var/lib/bastion/pki");
        }
        return (Path.GetFullPath(dir ?? fromConfig ?? Path.Combine(PathsConfig.DefaultStateDir, "pki")), settings);
    }
}
