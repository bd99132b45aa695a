namespace Bastion.Config;

// pki:
internal sealed partial class ConfigBinder
{
    private PkiConfig? BindPki(KeyedMapping root)
    {
        _facts.HasPki = Get(root, "pki") is not null;
        var m = Section(root, "pki");
        if (m is null)
        {
            return null;
        }
        var d = new PkiConfig();
        var ca = Duration(Get(m, "caLifetime"));
        var server = Duration(Get(m, "serverLifetime"));
        var client = Duration(Get(m, "clientLifetime"));
        var renew = Duration(Get(m, "renewBefore"));
        // A certificate must not outlive the CA that signs it, and renewal must start before it expires.
        Ordered(m, strict: false, "serverLifetime", server, d.ServerLifetime, "caLifetime", ca, d.CaLifetime);
        Ordered(m, strict: false, "clientLifetime", client, d.ClientLifetime, "caLifetime", ca, d.CaLifetime);
        Ordered(m, strict: true, "renewBefore", renew, d.RenewBefore, "serverLifetime", server, d.ServerLifetime);
        return new PkiConfig
        {
            Dir = FilePath(Get(m, "dir")),
            Algorithm = Choice(Get(m, "algorithm"), ConfigChoices.PkiAlgorithm) ?? d.Algorithm,
            CaLifetime = ca ?? d.CaLifetime,
            ServerLifetime = server ?? d.ServerLifetime,
            ClientLifetime = client ?? d.ClientLifetime,
            RenewBefore = renew ?? d.RenewBefore,
        };
    }
}
