using Bastion.Vnc;

namespace Bastion.Tests.Vnc;

/// <summary>
/// Known answers made on this machine with outside tools, not with the code under test: the key is the password's bytes
/// bit-reversed (python), the answer <c>openssl enc -des-ecb -K KEY -nopad -provider legacy -provider default</c>; the same
/// openssl command with the bit-reversed fixed key reproduces <c>vncpasswd -f</c> output byte for byte, which confirms the
/// bit-reversal convention (see VncPasswordFileTests). By hand, a real Xvnc 1.12 accepted RfbProbe's answer for the right
/// password and said "Authentication failure" for a wrong one.
/// </summary>
public sealed class VncAuthTests
{
    private static readonly byte[] Counting = Convert.FromHexString("000102030405060708090a0b0c0d0e0f");

    [Theory]
    [InlineData("000102030405060708090a0b0c0d0e0f", "password", "b866924125c8eebb9debc1db61c538e2")]
    [InlineData("000102030405060708090a0b0c0d0e0f", "abc", "9c22b4f2088c3465a1562c4b9d6edb04")]
    [InlineData("f0e1d2c3b4a5968778695a4b3c2d1e0f", "Xy7#q!", "f3ad68f3d38a5eee644d1e3ff128ae0c")]
    public void The_response_is_the_challenge_encrypted_with_DES_keyed_by_the_bit_reversed_password(string challenge, string password, string expected)
    {
        Assert.Equal(expected, Convert.ToHexStringLower(VncAuth.Response(Convert.FromHexString(challenge), password)));
    }

    [Fact]
    public void Only_the_first_eight_characters_of_the_password_count()
    {
        Assert.Equal(VncAuth.Response(Counting, "password"), VncAuth.Response(Counting, "password-and-more"));
        Assert.NotEqual(VncAuth.Response(Counting, "password"), VncAuth.Response(Counting, "passwore"));
    }

    [Fact]
    public void Each_16_byte_challenge_is_two_independent_8_byte_blocks()
    {
        var twice = Convert.FromHexString("00010203040506070001020304050607");
        var response = VncAuth.Response(twice, "password");
        Assert.Equal(response[..8], response[8..]);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(8)]
    [InlineData(17)]
    public void A_challenge_that_is_not_16_bytes_is_refused(int length)
    {
        var e = Assert.Throws<ArgumentException>(() => VncAuth.Response(new byte[length], "password"));
        Assert.Contains("16 bytes", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_empty_password_is_refused_as_empty()
    {
        var e = Assert.Throws<ArgumentException>(() => VncAuth.Response(Counting, ""));
        Assert.Contains("empty", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_password_that_makes_a_DES_weak_key_is_refused_with_a_message_that_does_not_contain_it()
    {
        // "xxxxpppp" bit-reversed is 1E1E1E1E0E0E0E0E, the weak key 1F1F1F1F0E0E0E0E up to parity: the only printable one.
        var e = Assert.Throws<ArgumentException>(() => VncAuth.Response(Counting, "xxxxpppp"));
        Assert.Contains("weak key", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("xxxxpppp", e.Message, StringComparison.Ordinal);
    }
}
