using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Bastion.Tls;

/// <summary>
/// Reads an X.509 CRL (PEM or DER): checks that the CA signed it and returns the revoked serial numbers.
/// .NET can build CRLs but not read their entries or verify them, so this is the small ASN.1 reader for RFC 5280 §5.1.
/// </summary>
public static class CrlReader
{
    public static HashSet<string> ReadRevokedSerials(byte[] fileBytes, X509Certificate2 ca)
    {
        var der = ToDer(fileBytes);
        var outer = new AsnReader(der, AsnEncodingRules.DER);
        var certList = outer.ReadSequence();
        outer.ThrowIfNotEmpty();
        var tbsBytes = certList.PeekEncodedValue().ToArray();
        var tbs = certList.ReadSequence();
        var algorithm = ReadAlgorithm(certList);
        var signature = certList.ReadBitString(out _);
        certList.ThrowIfNotEmpty();

        if (!Verify(ca, algorithm, tbsBytes, signature))
        {
            throw new CryptographicException("its signature does not verify against the CA certificate (not signed by this CA)");
        }

        if (tbs.PeekTag().HasSameClassAndValue(Asn1Tag.Integer))
        {
            tbs.ReadInteger(); // version
        }
        ReadAlgorithm(tbs);
        var issuer = tbs.ReadEncodedValue();
        if (!issuer.Span.SequenceEqual(ca.SubjectName.RawData))
        {
            throw new CryptographicException("it was issued by another CA (its issuer is not the CA certificate's subject)");
        }
        SkipTime(tbs); // thisUpdate
        if (tbs.HasData && (tbs.PeekTag().HasSameClassAndValue(Asn1Tag.UtcTime) || tbs.PeekTag().HasSameClassAndValue(Asn1Tag.GeneralizedTime)))
        {
            SkipTime(tbs); // nextUpdate
        }
        var serials = new HashSet<string>(StringComparer.Ordinal);
        if (tbs.HasData && tbs.PeekTag().HasSameClassAndValue(Asn1Tag.Sequence))
        {
            var revoked = tbs.ReadSequence();
            while (revoked.HasData)
            {
                var entry = revoked.ReadSequence();
                serials.Add(Convert.ToHexString(entry.ReadIntegerBytes().Span.TrimStart((byte)0)));
            }
        }
        return serials;
    }

    /// <summary>The serial as the CRL set holds it: upper-case hex, no leading zero bytes.</summary>
    public static string NormalizeSerial(ReadOnlySpan<byte> bigEndian) => Convert.ToHexString(bigEndian.TrimStart((byte)0));

    private static byte[] ToDer(byte[] bytes)
    {
        var text = System.Text.Encoding.ASCII.GetString(bytes);
        if (!text.Contains("-----BEGIN", StringComparison.Ordinal))
        {
            return bytes;
        }
        var fields = PemEncoding.Find(text);
        var label = text[fields.Label];
        if (label != "X509 CRL")
        {
            throw new CryptographicException($"it holds a PEM '{label}', not an 'X509 CRL'");
        }
        return Convert.FromBase64String(text[fields.Base64Data]);
    }

    private static string ReadAlgorithm(AsnReader reader)
    {
        var seq = reader.ReadSequence();
        var oid = seq.ReadObjectIdentifier();
        return oid;
    }

    private static void SkipTime(AsnReader reader) => reader.ReadEncodedValue();

    private static bool Verify(X509Certificate2 ca, string algorithm, byte[] data, byte[] signature)
    {
        HashAlgorithmName hash = algorithm switch
        {
            "1.2.840.10045.4.3.2" or "1.2.840.113549.1.1.11" => HashAlgorithmName.SHA256,
            "1.2.840.10045.4.3.3" or "1.2.840.113549.1.1.12" => HashAlgorithmName.SHA384,
            "1.2.840.10045.4.3.4" or "1.2.840.113549.1.1.13" => HashAlgorithmName.SHA512,
            _ => throw new CryptographicException($"its signature algorithm {algorithm} is not supported (use ECDSA or RSA with SHA-256/384/512)"),
        };
        if (algorithm.StartsWith("1.2.840.10045", StringComparison.Ordinal))
        {
            using var ecdsa = ca.GetECDsaPublicKey() ?? throw new CryptographicException("it is signed with ECDSA but the CA key is not ECDSA");
            return ecdsa.VerifyData(data, signature, hash, DSASignatureFormat.Rfc3279DerSequence);
        }
        using var rsa = ca.GetRSAPublicKey() ?? throw new CryptographicException("it is signed with RSA but the CA key is not RSA");
        return rsa.VerifyData(data, signature, hash, RSASignaturePadding.Pkcs1);
    }
}
