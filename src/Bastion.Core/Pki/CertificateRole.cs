using System.Security.Cryptography;

namespace Bastion.Pki;

/// <summary>What a certificate may do, enforced by its extended key usage: a client certificate can never act as a server.</summary>
public enum CertificateRole { Server, Client }

public static class CertificateRoles
{
    public static readonly Oid ServerAuth = new("1.3.6.1.5.5.7.3.1", "TLS Web Server Authentication");
    public static readonly Oid ClientAuth = new("1.3.6.1.5.5.7.3.2", "TLS Web Client Authentication");

    public static Oid Eku(this CertificateRole role) => role == CertificateRole.Server ? ServerAuth : ClientAuth;

    public static string Text(this CertificateRole role) => role == CertificateRole.Server ? "server" : "client";
}
