using System.Security.Cryptography;
using Bastion.Tor;

namespace Bastion.Tests.Tor;

public sealed class TorKeysTests
{
    [Fact]
    public void X25519_public_keys_match_the_rfc_7748_test_vector()
    {
        // RFC 7748, section 6.1: Alice's private key and public key.
        var secret = Convert.FromHexString("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
        var expected = Convert.FromHexString("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
        Assert.Equal(expected, OnionClientKeys.PublicKeyOf(secret));
    }

    [Fact]
    public void A_generated_pair_is_two_52_character_base32_keys_whose_public_half_derives_from_the_private_half()
    {
        var pair = OnionClientKeys.Generate();
        Assert.Matches("^[A-Z2-7]{52}$", pair.PublicKey);
        Assert.Matches("^[A-Z2-7]{52}$", pair.PrivateKey);
        Assert.Equal(pair.PublicKey, Base32.Encode(OnionClientKeys.PublicKeyOf(Base32.TryDecode(pair.PrivateKey)!)));
        Assert.Equal("descriptor:x25519:" + pair.PublicKey, pair.ServiceLine);
        Assert.Equal($"abc:descriptor:x25519:{pair.PrivateKey}", pair.ClientLine("abc.onion"));
        Assert.DoesNotContain(pair.PrivateKey, pair.ToString(), StringComparison.Ordinal);
        Assert.NotEqual(pair.PublicKey, OnionClientKeys.Generate().PublicKey);
    }

    [Fact]
    public void Base32_round_trips_any_bytes_and_rejects_foreign_characters()
    {
        var random = new Random(7);
        for (var n = 0; n < 70; n++)
        {
            var data = new byte[n];
            random.NextBytes(data);
            Assert.Equal(data, Base32.TryDecode(Base32.Encode(data)));
        }
        Assert.Equal("MZXW6YTBOI", Base32.Encode("foobar"u8));
        Assert.Null(Base32.TryDecode("MZXW6YTBO1"));
    }

    [Theory]
    [InlineData("descriptor:x25519:O2N6PLEDBMYBTOSKA4MRFUTC7R2346XHAA4G5RFDV5S3BQN7ZYUA", true)]
    [InlineData("descriptor:x25519:o2n6pledbmybtoska4mrfutc7r2346xhaa4g5rfdv5s3bqn7zyua\n", true)]
    [InlineData("O2N6PLEDBMYBTOSKA4MRFUTC7R2346XHAA4G5RFDV5S3BQN7ZYUA", false)]
    [InlineData("descriptor:x25519:O2N6PLEDBMYBTOSKA4MRFUTC7R2346XHAA4G5RFDV5S3BQN7ZYU", false)]
    [InlineData("descriptor:x25519:O2N6PLEDBMYBTOSKA4MRFUTC7R2346XHAA4G5RFDV5S3BQN7ZYU1", false)]
    public void Service_side_auth_files_are_parsed_strictly(string content, bool valid)
    {
        var key = OnionClientKeys.ParseServiceLine(content, out var error);
        Assert.Equal(valid, key is not null);
        Assert.Equal(valid, error.Length == 0);
    }

    private static string NewKeyFile(out OnionKey key)
    {
        key = new OnionKey("25njqamcweflpvkl73j4szahhihoc4xt3ktcgjnpaingr5yhkenl5sid", Convert.ToBase64String(RandomNumberGenerator.GetBytes(64)));
        return OnionKeyFile.Format(key);
    }

    [Fact]
    public void A_key_file_round_trips_and_its_description_never_shows_the_key()
    {
        var text = NewKeyFile(out var key);
        var parsed = OnionKeyFile.Parse(text, "/state/onion/ssh/onion.key");
        Assert.Equal(key, parsed);
        Assert.Equal("ED25519-V3:" + key.Blob, parsed.ForAddOnion);
        Assert.DoesNotContain(key.Blob, parsed.ToString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("drop the key line")]
    [InlineData("drop the address line")]
    [InlineData("truncate the key")]
    [InlineData("wrong key type")]
    [InlineData("bad address")]
    [InlineData("extra line")]
    [InlineData("empty")]
    [InlineData("space inside the key")]
    [InlineData("tab inside the key")]
    [InlineData("no padding")]
    [InlineData("url-safe alphabet")]
    public void A_damaged_key_file_is_an_error_that_names_the_file_and_the_way_out(string damage)
    {
        var text = NewKeyFile(out var key);
        var lines = text.Split('\n').ToList();
        var damaged = damage switch
        {
            "drop the key line" => string.Join('\n', lines.Where(l => !l.StartsWith("key:", StringComparison.Ordinal))),
            "drop the address line" => string.Join('\n', lines.Where(l => !l.StartsWith("address:", StringComparison.Ordinal))),
            "truncate the key" => text.Replace(key.Blob, key.Blob[..40], StringComparison.Ordinal),
            "wrong key type" => text.Replace("ED25519-V3:", "RSA1024:", StringComparison.Ordinal),
            "bad address" => text.Replace(key.ServiceId, "example", StringComparison.Ordinal),
            "extra line" => text + "hello\n",
            "space inside the key" => text.Replace(key.Blob, key.Blob[..44] + " " + key.Blob[44..], StringComparison.Ordinal),
            "tab inside the key" => text.Replace(key.Blob, key.Blob[..30] + "\t" + key.Blob[30..], StringComparison.Ordinal),
            "no padding" => text.Replace(key.Blob, key.Blob.TrimEnd('='), StringComparison.Ordinal),
            "url-safe alphabet" => text.Replace(key.Blob, key.Blob[..10] + "-" + key.Blob[11..], StringComparison.Ordinal),
            _ => "",
        };
        var e = Assert.Throws<OnionKeyFileException>(() => OnionKeyFile.Parse(damaged, "/state/onion/ssh/onion.key"));
        Assert.Contains("/state/onion/ssh/onion.key is damaged", e.Message, StringComparison.Ordinal);
        Assert.Contains("restore the file from a backup", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(key.Blob[..20], e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(key.Blob[50..70], e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_control_command_word_that_is_refused_does_not_quote_the_value()
    {
        var secret = "ED25519-V3:" + new string('k', 40) + " " + new string('q', 40);
        var e = Assert.Throws<ArgumentException>(() => TorCommand.Word(secret));
        Assert.DoesNotContain("kkkkkkkk", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("qqqqqqqq", e.Message, StringComparison.Ordinal);
        Assert.Contains("cannot be one word", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Safecookie_hashes_follow_the_spec_and_a_wrong_server_hash_is_detected()
    {
        var cookie = Enumerable.Range(0, 32).Select(i => (byte)i).ToArray();
        var client = Enumerable.Repeat((byte)0xAA, 32).ToArray();
        var server = Enumerable.Repeat((byte)0x55, 32).ToArray();
        var expected = HMACSHA256.HashData("Tor safe cookie authentication server-to-controller hash"u8, [.. cookie, .. client, .. server]);
        Assert.Equal(expected, SafeCookie.ServerHash(cookie, client, server));
        Assert.True(SafeCookie.ServerHashMatches(cookie, client, server, expected));
        expected[0] ^= 1;
        Assert.False(SafeCookie.ServerHashMatches(cookie, client, server, expected));
        Assert.NotEqual(SafeCookie.ServerHash(cookie, client, server), SafeCookie.ClientHash(cookie, client, server));
    }
}
