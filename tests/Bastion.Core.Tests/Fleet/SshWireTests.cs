using Bastion.Fleet;

namespace Bastion.Tests.Fleet;

/// <summary>
/// The one SSH-wire reader every parser of untrusted blobs (certificates, SSHSIG, keys, envelopes, agent answers) uses:
/// each length is checked against what remains and each refusal says what was wrong.
/// </summary>
public sealed class SshWireTests
{
    private static string Refusal(Action read) => Assert.Throws<SshFormatException>(read).Message;

    [Fact]
    public void What_the_writer_writes_the_reader_reads_back_to_the_end()
    {
        var blob = new SshWriter().WriteRaw("SSHSIG"u8).WriteUInt32(1).WriteUInt64(ulong.MaxValue - 1)
            .WriteString([]).WriteText("bastion-fleet@v1").WriteString([0, 0x7f]).ToArray();
        var reader = new SshReader(blob);
        Assert.Equal("SSHSIG"u8.ToArray(), reader.ReadRaw(6).ToArray());
        Assert.Equal(1u, reader.ReadUInt32());
        Assert.Equal(ulong.MaxValue - 1, reader.ReadUInt64());
        Assert.Equal(0, reader.ReadString().Length);
        Assert.Equal("bastion-fleet@v1", reader.ReadText());
        Assert.Equal(new byte[] { 0x7f }, reader.ReadPositiveMpint().ToArray());
        Assert.True(reader.AtEnd);
        Assert.Equal(0, reader.Remaining);
        reader.ExpectEnd();
    }

    [Theory]
    [InlineData(new byte[0])]
    [InlineData(new byte[] { 0 })]
    [InlineData(new byte[] { 0, 0, 1 })]
    public void A_length_prefix_cut_short_is_refused_as_truncated(byte[] blob)
    {
        Assert.Equal("truncated", Refusal(() => new SshReader(blob).ReadString()));
        Assert.Equal("truncated", Refusal(() => new SshReader(blob).ReadUInt32()));
    }

    [Fact]
    public void Fixed_size_fields_and_raw_bytes_beyond_the_end_are_refused_as_truncated()
    {
        Assert.Equal("truncated", Refusal(() => new SshReader(new byte[7]).ReadUInt64()));
        Assert.Equal("truncated", Refusal(() => new SshReader(Array.Empty<byte>()).ReadByte()));
        Assert.Equal("truncated", Refusal(() => new SshReader("SSHSI"u8.ToArray()).ReadRaw(6)));
        Assert.Equal("truncated", Refusal(() => new SshReader(new byte[4]).ReadRaw(-1)));
    }

    [Theory]
    [InlineData(new byte[] { 0, 0, 0, 5, 1, 2, 3, 4 })]
    [InlineData(new byte[] { 0, 0, 0, 1 })]
    [InlineData(new byte[] { 0x7f, 0xff, 0xff, 0xff, 1 })]
    [InlineData(new byte[] { 0x80, 0, 0, 0, 1 })]
    [InlineData(new byte[] { 0xff, 0xff, 0xff, 0xff, 1, 2, 3 })]
    public void A_string_length_beyond_the_end_is_refused_without_reading_or_allocating_it(byte[] blob)
    {
        // Lengths of 2^31 and more must not turn negative and slip past the check.
        Assert.Equal("string length beyond the end", Refusal(() => new SshReader(blob).ReadString()));
        Assert.Equal("string length beyond the end", Refusal(() => new SshReader(blob).ReadText()));
        Assert.Equal("string length beyond the end", Refusal(() => new SshReader(blob).ReadPositiveMpint()));
    }

    [Fact]
    public void A_string_that_ends_exactly_at_the_end_is_read_whole()
    {
        var reader = new SshReader(new byte[] { 0, 0, 0, 3, 7, 8, 9 });
        Assert.Equal(new byte[] { 7, 8, 9 }, reader.ReadString().ToArray());
        Assert.True(reader.AtEnd);
    }

    [Fact]
    public void A_text_field_with_a_NUL_or_invalid_UTF8_is_refused()
    {
        Assert.Equal("NUL in a text field", Refusal(() => new SshReader(new SshWriter().WriteString("ssh-ed25519\0x"u8).ToArray()).ReadText()));
        Assert.Equal("text field is not UTF-8", Refusal(() => new SshReader(new SshWriter().WriteString([0xc3, 0x28]).ToArray()).ReadText()));
        Assert.Equal("bästion", new SshReader(new SshWriter().WriteText("bästion").ToArray()).ReadText());
    }

    [Fact]
    public void A_negative_mpint_is_refused_and_a_positive_one_loses_its_leading_zeros()
    {
        Assert.Equal("negative mpint", Refusal(() => new SshReader(new SshWriter().WriteString([0x80, 1]).ToArray()).ReadPositiveMpint()));
        Assert.Equal(new byte[] { 0x80, 1 }, new SshReader(new SshWriter().WriteString([0, 0x80, 1]).ToArray()).ReadPositiveMpint().ToArray());
        Assert.Equal(new byte[] { 1 }, new SshReader(new SshWriter().WriteString([0, 0, 1]).ToArray()).ReadPositiveMpint().ToArray());
        Assert.Equal(0, new SshReader(new SshWriter().WriteString([]).ToArray()).ReadPositiveMpint().Length);
        Assert.Equal(0, new SshReader(new SshWriter().WriteString([0, 0]).ToArray()).ReadPositiveMpint().Length);
    }

    [Fact]
    public void Data_after_the_last_field_is_refused_as_trailing()
    {
        var reader = new SshReader(new SshWriter().WriteUInt32(1).WriteRaw([0]).ToArray());
        Assert.Equal(1u, reader.ReadUInt32());
        Assert.False(reader.AtEnd);
        Assert.Equal(1, reader.Remaining);
        Assert.Equal("trailing data", Refusal(reader.ExpectEnd));
    }
}
