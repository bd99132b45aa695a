using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Bastion.Pki;

/// <summary>The SHA-256 of a certificate's SubjectPublicKeyInfo, base64 (the format of <c>tls[].pins</c> and HPKP).</summary>
public static class SpkiPin
{
    public static string Of(X509Certificate2 certificate) =>
        Convert.ToBase64String(SHA256.HashData(certificate.PublicKey.ExportSubjectPublicKeyInfo()));
}
