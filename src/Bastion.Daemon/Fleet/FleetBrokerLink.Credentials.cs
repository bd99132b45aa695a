using System.Globalization;
using Bastion.Daemon.Hosting;
using Bastion.Fleet;
using Bastion.Supervision;
using NATS.Client.Core;

namespace Bastion.Daemon.Fleet;

// Broker credentials (fleet.credentials) and broker trust (fleet.ca). A problem an admin must fix (a file others control,
// a file in the wrong format, a CA file without a certificate) fails the component with the file and the fix; the
// broker refusing the credentials or presenting a certificate the CA did not sign is a Degraded reason, retried.
// The password is only ever handed to the client library for the CONNECT it sends over the (TLS) connection.
internal sealed partial class FleetBrokerLink
{
    private const UnixFileMode GroupOrOther =
        UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute |
        UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;

    /// <summary>
    /// Reads <c>fleet.credentials</c> as OpenSSH's StrictModes would: owned by bastiond's own user and private to it,
    /// or refused. Only its kind and user name ever leave this method in words.
    /// </summary>
    private FleetCredentials? LoadCredentials()
    {
        if (Fleet.Credentials is not { } path)
        {
            return null;
        }
        var uid = DirectoryCheck.EffectiveUid;
        var (_, ownership, error) = DirectoryCheck.Check(path, uid);
        if (ownership is not { } owned)
        {
            throw new ComponentFailureException($"fleet.credentials {path} cannot be read ({error}) — create it, or remove fleet.credentials and reload");
        }
        if (owned.IsDirectory)
        {
            throw new ComponentFailureException($"fleet.credentials {path} is a directory — point fleet.credentials at the file itself and reload");
        }
        if (owned.Uid != uid)
        {
            throw new ComponentFailureException(
                $"fleet.credentials {path} is owned by uid {owned.Uid.ToString(CultureInfo.InvariantCulture)}, not by bastiond's user (uid {uid.ToString(CultureInfo.InvariantCulture)}); a secret another user controls is refused — run chown {uid.ToString(CultureInfo.InvariantCulture)} {path} and chmod 600 {path}, then reload");
        }
        if ((owned.Mode & GroupOrOther) != 0)
        {
            throw new ComponentFailureException(
                $"fleet.credentials {path} is accessible by group or others (mode {Convert.ToString((int)owned.Mode, 8).PadLeft(4, '0')}); a secret must be private — run chmod 600 {path}, consider the password exposed, then reload");
        }
        FleetCredentials? credentials;
        FleetCredentialsProblem problem;
        try
        {
            (credentials, problem) = FleetCredentials.ReadFile(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // An I/O message names the path, never the content.
            throw new ComponentFailureException($"fleet.credentials {path} cannot be read ({e.Message}) — check its permissions and reload");
        }
        return credentials ?? throw new ComponentFailureException(FleetCredentials.Describe(problem, path));
    }

    private static NatsAuthOpts AuthOptions(FleetCredentials credentials, string path) => credentials.Kind switch
    {
        FleetCredentialsKind.NatsCreds => NatsAuthOpts.Default with { CredsFile = path },
        _ => NatsAuthOpts.Default with { Username = credentials.User, Password = credentials.Password },
    };

    /// <summary>Why a connection attempt failed, in words that name the problem (never a secret): credentials and certificates told apart.</summary>
    private string Reason(Exception e, FleetBrokerTrust? trust)
    {
        if (trust?.TakeProblem() is { } problem and not BrokerCertificateProblem.None)
        {
            return FleetBrokerTrust.Describe(problem, Fleet.Ca!);
        }
        for (var inner = e; inner is not null; inner = inner.InnerException)
        {
            if (inner is NatsServerException { IsAuthError: true })
            {
                return Fleet.Credentials is { } path
                    ? $"the broker refused the credentials in {path} (authorization violation) — check the user and password (or the .creds file) against the broker's configuration"
                    : "the broker requires credentials (authorization violation) — set fleet.credentials";
            }
        }
        return Describe(e);
    }
}
