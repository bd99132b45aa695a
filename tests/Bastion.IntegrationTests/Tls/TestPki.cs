using System.Net;
using Bastion.Config;
using Bastion.IntegrationTests.Infrastructure;
using Bastion.Pki;

namespace Bastion.IntegrationTests.Tls;

/// <summary>A throwaway session CA (Bastion's own CA code) with a server certificate "srv" for 127.0.0.1 and a client "admin".</summary>
internal sealed class TestPki : IDisposable
{
    private readonly TempRoot _root = new("bastion-pki-");

    public TestPki(string dirName = "pki", TimeProvider? time = null)
    {
        Dir = _root.File(dirName);
        Ca = CertificateAuthority.Init(Dir, new PkiConfig(), time ?? TimeProvider.System, "Test session CA");
        Server = Ca.Issue(CertificateRole.Server, "srv", [], [IPAddress.Loopback]);
        Admin = Ca.Issue(CertificateRole.Client, "admin", [], []);
    }

    public string Dir { get; }
    public CertificateAuthority Ca { get; }
    public IssueResult Server { get; }
    public IssueResult Admin { get; }
    public string CaPath => Ca.CaCertificatePath;

    public IssueResult Client(string name, TimeProvider? time = null, TimeSpan? lifetime = null)
    {
        var ca = time is null ? Ca : CertificateAuthority.Open(Dir, new PkiConfig(), time);
        return ca.Issue(CertificateRole.Client, name, [], [], lifetime);
    }

    public string Scratch(string name) => _root.File(name);

    public void Dispose() => _root.Dispose();
}

/// <summary>A clock that says what the test wants (to issue a certificate that has already expired).</summary>
internal sealed class FixedTime(DateTimeOffset now) : TimeProvider
{
    public override DateTimeOffset GetUtcNow() => now;
}

/// <summary>The tls: config text for one endpoint.</summary>
internal static class TlsConfig
{
    public static string Endpoint(TestPki pki, string backend, string mode = "listen", string address = "127.0.0.1:0",
        IssueResult? certificate = null, string extra = "", string name = "vnc") =>
        $"""
        pki:
          dir: {pki.Dir}
        tls:
          - name: {name}
            mode: {mode}
            address: {address}
            interval: 1s
            backend: {backend}
            certificate: {(certificate ?? pki.Server).CertificatePath}
            key: {(certificate ?? pki.Server).KeyPath}
        {extra}
        """;
}
