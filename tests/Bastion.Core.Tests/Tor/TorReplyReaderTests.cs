using System.Text;
using Bastion.Tor;

namespace Bastion.Tests.Tor;

public sealed class TorReplyReaderTests
{
    private static IReadOnlyList<TorReply> Read(string text) => new TorReplyReader().Feed(Encoding.ASCII.GetBytes(text));

    [Fact]
    public void A_single_line_reply_is_complete_at_its_space_separator()
    {
        var reply = Assert.Single(Read("250 OK\r\n"));
        Assert.Equal(250, reply.Status);
        Assert.True(reply.IsOk);
        Assert.Equal("OK", reply.Message);
    }

    [Fact]
    public void A_multi_line_add_onion_reply_exposes_its_key_value_lines()
    {
        var reply = Assert.Single(Read("250-ServiceID=abc\r\n250-PrivateKey=ED25519-V3:xyz==\r\n250 OK\r\n"));
        Assert.Equal("abc", reply.Value("ServiceID"));
        Assert.Equal("ED25519-V3:xyz==", reply.Value("PrivateKey"));
        Assert.Null(reply.Value("Service"));
    }

    [Fact]
    public void A_data_block_is_read_to_its_dot_line_and_dot_stuffing_is_undone()
    {
        var reply = Assert.Single(Read("250+ns/all=\r\nr one\r\n..dotted\r\n.\r\n250 OK\r\n"));
        Assert.Equal("r one\n.dotted\n", reply.Value("ns/all"));
    }

    [Fact]
    public void Replies_split_anywhere_across_reads_come_out_the_same()
    {
        const string text = "650 HS_DESC UPLOADED abc UNKNOWN $AA~r1\r\n250-a=1\n250 OK\r\n";
        var bytes = Encoding.ASCII.GetBytes(text);
        for (var split = 0; split <= bytes.Length; split++)
        {
            var reader = new TorReplyReader();
            var replies = reader.Feed(bytes.AsSpan(0, split)).Concat(reader.Feed(bytes.AsSpan(split))).ToList();
            Assert.Equal(2, replies.Count);
            Assert.True(replies[0].IsEvent);
            Assert.Equal("1", replies[1].Value("a"));
        }
    }

    [Theory]
    [InlineData("hello\r\n")]
    [InlineData("25 OK\r\n")]
    [InlineData("2x0 OK\r\n")]
    [InlineData("250*OK\r\n")]
    public void A_line_that_is_not_the_control_protocol_is_a_protocol_error_and_poisons_the_reader(string text)
    {
        var reader = new TorReplyReader();
        Assert.Throws<TorProtocolException>(() => reader.Feed(Encoding.ASCII.GetBytes(text)));
        Assert.Throws<TorProtocolException>(() => reader.Feed("250 OK\r\n"u8));
    }

    [Fact]
    public void An_endless_line_is_refused_before_it_exhausts_memory()
    {
        var reader = new TorReplyReader();
        var chunk = new byte[4096];
        Array.Fill(chunk, (byte)'a');
        var ex = Record.Exception(() =>
        {
            for (var i = 0; i < 100; i++)
            {
                reader.Feed(chunk);
            }
        });
        Assert.IsType<TorProtocolException>(ex);
    }

    [Fact]
    public void An_endless_data_block_is_refused_at_the_reply_limit()
    {
        var reader = new TorReplyReader();
        reader.Feed("250+md/all=\r\n"u8);
        var line = Encoding.ASCII.GetBytes(new string('x', 1000) + "\r\n");
        var ex = Record.Exception(() =>
        {
            for (var i = 0; i < 20_000; i++)
            {
                reader.Feed(line);
            }
        });
        Assert.IsType<TorProtocolException>(ex);
    }

    /// <summary>
    /// Property: for any bytes a hostile or broken peer sends, the reader either returns replies or throws
    /// TorProtocolException — never another exception — and every reply it returns is well-formed.
    /// </summary>
    [Fact]
    public void Random_and_mutated_input_only_ever_yields_replies_or_protocol_errors()
    {
        var random = new Random(20261123);
        var seeds = new[]
        {
            "250 OK\r\n", "250-ServiceID=abc\r\n250 OK\r\n", "250+x=\r\nline\r\n.\r\n250 OK\r\n",
            "650 STATUS_CLIENT NOTICE BOOTSTRAP PROGRESS=45 TAG=x SUMMARY=\"a \\\"b\\\"\"\r\n", "552 Unrecognized key\r\n",
        };
        for (var run = 0; run < 20_000; run++)
        {
            byte[] input;
            if (run % 2 == 0)
            {
                input = new byte[random.Next(0, 200)];
                random.NextBytes(input);
                // Bias towards the protocol's own bytes so deep states are reached.
                for (var i = 0; i < input.Length; i++)
                {
                    input[i] = (random.Next(4)) switch { 0 => (byte)"0123456789"[random.Next(10)], 1 => (byte)" -+.\r\n="[random.Next(7)], _ => input[i] };
                }
            }
            else
            {
                input = Encoding.ASCII.GetBytes(string.Concat(Enumerable.Range(0, random.Next(1, 4)).Select(_ => seeds[random.Next(seeds.Length)])));
                for (var m = random.Next(0, 4); m > 0 && input.Length > 0; m--)
                {
                    input[random.Next(input.Length)] = (byte)random.Next(256);
                }
            }
            var reader = new TorReplyReader();
            try
            {
                var offset = 0;
                while (offset < input.Length)
                {
                    var n = random.Next(1, input.Length - offset + 1);
                    foreach (var reply in reader.Feed(input.AsSpan(offset, n)))
                    {
                        Assert.InRange(reply.Status, 0, 999);
                        Assert.NotEmpty(reply.Lines);
                        _ = reply.Describe();
                        _ = HsDescEvent.TryParse(reply);
                        _ = BootstrapPhase.TryParse(reply);
                        _ = TorArguments.Parse(reply.Lines[0].Text);
                    }
                    offset += n;
                }
            }
            catch (TorProtocolException)
            {
                // the only acceptable failure
            }
        }
    }
}
